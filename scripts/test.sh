#!/usr/bin/env bash
# Installs what is missing, checks lint and types, brings the stack up and runs every test.
# With CI=true (or when the stack was not running before) the stack is brought down at the
# end, and `stack down` fails if any port of ours is still listening.
#
# `--fast`: lint, types, layering and the fast tier (tests/unit: no Postgres, Redis or
# nginx), without the stack. Further arguments go to pytest in both modes.
set -euo pipefail
cd "$(dirname "$0")/.."

fast=0
if [ "${1:-}" = "--fast" ]; then
  fast=1
  shift
fi
if [ "$fast" = 1 ]; then
  ./scripts/bootstrap.sh --python-only
else
  ./scripts/bootstrap.sh
fi

echo "== lint, types and layering"
.venv/bin/ruff check src tests migrations
.venv/bin/ruff format --check src tests migrations
.venv/bin/mypy
.venv/bin/lint-imports --no-cache

if [ "$fast" = 1 ]; then
  echo "== fast tests (tests/unit)"
  exec .venv/bin/python -m pytest -q -p no:cacheprovider tests/unit "$@"
fi

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
