#!/usr/bin/env bash
# Installs what is missing, checks lint and types, brings the stack up and runs every test.
# With CI=true (or when the stack was not running before) the stack is brought down at the
# end, and `stack down` fails if any port of ours is still listening.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/bootstrap.sh

echo "== lint, types and layering"
.venv/bin/ruff check src tests migrations
.venv/bin/ruff format --check src tests migrations
.venv/bin/mypy
.venv/bin/lint-imports --no-cache

was_up=0
.venv/bin/sichrplace stack status >/dev/null 2>&1 && was_up=1
echo "== stack up"
.venv/bin/sichrplace stack up

echo "== tests"
set +e
.venv/bin/python -m pytest -q -p no:cacheprovider "$@"
rc=$?
set -e

if [ "${CI:-}" = "true" ] || [ "$was_up" = 0 ]; then
  echo "== stack down"
  .venv/bin/sichrplace stack down
fi
exit $rc
