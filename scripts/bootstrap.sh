#!/usr/bin/env bash
# Installs what is missing: Debian packages (when root), a virtualenv in .venv, the package,
# and the browser assets of package.json in node_modules (npm ci, from the lockfile).
# Idempotent and quiet when everything is already there. `--python-only` skips the Debian
# packages and npm (what `test.sh --fast` needs: no services, no browser assets);
# `--browser` adds Debian's chromium (the browser tests and `sichrplace bench web`).
set -euo pipefail
cd "$(dirname "$0")/.."

python_only=0
browser=0
[ "${1:-}" = "--python-only" ] && python_only=1
[ "${1:-}" = "--browser" ] && browser=1

APT_PACKAGES=(postgresql-15 postgresql-contrib postgresql-15-postgis-3 postgresql-15-partman pgbouncer redis-server
  nginx-light libnginx-mod-http-brotli-filter libnginx-mod-http-brotli-static wrk postgresql-client-15 pgbackrest ca-certificates wngerman
  hunspell-de-de prometheus prometheus-alertmanager fonts-dejavu-core
  prometheus-postgres-exporter prometheus-redis-exporter prometheus-pgbouncer-exporter
  prometheus-nginx-exporter prometheus-node-exporter prometheus-blackbox-exporter
  patroni etcd-server haproxy)

[ "$browser" = 1 ] && APT_PACKAGES+=(chromium)

# Debian's npm only where there is none (a machine with Node from elsewhere keeps its own).
command -v npm >/dev/null 2>&1 || APT_PACKAGES+=(nodejs npm)

missing=()
[ "$python_only" = 1 ] && APT_PACKAGES=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then
    echo "bootstrap: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    # Debian's packages may start their own services on the standard ports (Prometheus 9090,
    # the exporters 91xx); ours run on the stack's own ports under supervisord, as the
    # invoking user, with their configs and data in the stack's folder, so the system copies
    # are left as they are and never read. (About 6 s of the install: ~17 MB of packages.)
  else
    echo "bootstrap: missing Debian packages: ${missing[*]}" >&2
    echo "bootstrap: run as root once, or: sudo apt-get install ${missing[*]}" >&2
    exit 1
  fi
fi

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "bootstrap: creating .venv"
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.installed-$(sha1sum pyproject.toml | cut -c1-12)
if [ ! -f "$stamp" ]; then
  echo "bootstrap: installing Python dependencies"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e '.[dev]'
  rm -f .venv/.installed-*
  touch "$stamp"
fi

[ "$python_only" = 1 ] && exit 0

# Browser assets (Swagger UI, ReDoc for /docs and /redoc), exactly as locked. No install
# scripts: nothing here needs building, and swagger-ui-dist's would report the install.
stamp=node_modules/.installed-$(sha1sum package-lock.json | cut -c1-12)
if [ ! -f "$stamp" ]; then
  echo "bootstrap: installing browser assets (npm ci)"
  npm ci --omit=dev --no-audit --no-fund --ignore-scripts --loglevel=error
  touch "$stamp"
fi
# The web pages' CSS and JS, content-hashed (a second or two; nothing to do when unchanged).
.venv/bin/sichrplace web build >/dev/null
