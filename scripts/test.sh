#!/usr/bin/env bash
# The whole test suite: lint, format check, type check, then pytest.
# Under CI=true the Postgres tests must run: make sure the server is up.
set -euo pipefail
cd "$(dirname "$0")/.."

export HPSEARCH_TEST_POSTGRES_URL="${HPSEARCH_TEST_POSTGRES_URL:-postgresql+psycopg://postgres@127.0.0.1:5432/test}"
if [ "${CI:-}" = "true" ]; then
  if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start
    for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
  fi
fi

# The dashboard tests drive Debian's Chromium through Playwright (never `playwright install`).
if [ "${CI:-}" = "true" ] && [ ! -x /usr/bin/chromium ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium
fi

echo "== ruff check"; ruff check .
echo "== ruff format --check"; ruff format --check .
echo "== mypy engine"; mypy engine
echo "== pytest"; python -m pytest "$@"
