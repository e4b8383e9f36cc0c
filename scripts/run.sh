#!/usr/bin/env bash
# Installs what is missing, then brings the local stack up with demo data and prints its URL.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/bootstrap.sh
exec .venv/bin/sichrplace stack up --seed demo "$@"
