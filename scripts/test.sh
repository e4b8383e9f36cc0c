#!/usr/bin/env bash
# Installs what is missing, checks lint and types, brings the stack up and runs every test.
# With CI=true (or when the stack was not running before) the stack is brought down at the
# end, and `stack down` fails if any port of ours is still listening.
#
# `--fast`: lint, types, layering and the fast tier (tests/unit: no Postgres, Redis or
# nginx), without the stack. Further arguments go to pytest in both modes.
set -euo pipefail
cd "$(dirname "$0")/.."

stamp() { echo "== $1 ($(date -u +%H:%M:%S))"; }
stamp "bootstrap"

fast=0
if [ "${1:-}" = "--fast" ]; then
  fast=1
  shift
fi
if [ "$fast" = 1 ]; then
  ./scripts/bootstrap.sh --python-only
else
  ./scripts/bootstrap.sh --browser
fi

if [ "$fast" = 1 ]; then
  echo "== lint and layering"
  .venv/bin/ruff check src tests migrations
  .venv/bin/ruff format --check src tests migrations
  .venv/bin/lint-imports --no-cache
  # Types alongside the tests, a core each: a first run builds mypy's cache, which alone
  # takes about as long as the tests.
  types_log=$(mktemp)
  .venv/bin/mypy >"$types_log" 2>&1 &
  types_pid=$!
  echo "== fast tests (tests/unit), types alongside"
  set +e
  .venv/bin/python -m pytest -q -p no:cacheprovider tests/unit "$@"
  rc=$?
  wait "$types_pid"
  types_rc=$?
  set -e
  echo "== types"
  cat "$types_log"
  rm -f "$types_log"
  [ "$types_rc" = 0 ] || exit "$types_rc"
  exit $rc
fi

# The rule and Alertmanager checks (tests/unit/ops) skip without promtool/amtool; here the
# bootstrap has installed them, so a missing one is a failure.
export SICHRPLACE_REQUIRE_PROMTOOL=1

stamp "lint and layering"
.venv/bin/ruff check src tests migrations
.venv/bin/ruff format --check src tests migrations
.venv/bin/lint-imports --no-cache

was_up=0
.venv/bin/sichrplace stack status >/dev/null 2>&1 && was_up=1
stack_down_if_ours() {
  if [ "${CI:-}" = "true" ] || [ "$was_up" = 0 ]; then
    stamp "stack down"
    .venv/bin/sichrplace stack down
  fi
}
# Types while the stack comes up: a cold mypy run and the stack's start (initdb, Patroni's
# election, migrations, demo data) each take a minute or two and wait on different things.
types_log=$(mktemp)
.venv/bin/mypy >"$types_log" 2>&1 &
types_pid=$!
stamp "stack up, types alongside"
.venv/bin/sichrplace stack up
set +e
wait "$types_pid"
types_rc=$?
set -e
stamp "types"
cat "$types_log"
rm -f "$types_log"
if [ "$types_rc" != 0 ]; then
  stack_down_if_ours
  exit "$types_rc"
fi

stamp "tests"
set +e
# Every test's time is kept in the JUnit report, beside the run's other artifacts.
.venv/bin/python -m pytest -q -p no:cacheprovider --durations=20 \
  --junitxml=build/test-artifacts/junit.xml "$@"
rc=$?
set -e

stack_down_if_ours
stamp "end"
exit $rc
