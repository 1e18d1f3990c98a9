#!/usr/bin/env bash
# Quick start: install the pinned Bun and the locked dependencies, then run the
# server on the embedded SQLite default (./data/cmdaudit.db) at 127.0.0.1:8080.
# First start writes an ingest and a read token to ./data/tokens.yml (mode 0600).
set -euo pipefail
cd "$(dirname "$0")/.."
BUN_VERSION=$(sed -n 's/.*"packageManager": *"bun@\([^"]*\)".*/\1/p' package.json)
if [ "$(bun --version 2>/dev/null || true)" != "$BUN_VERSION" ]; then
  echo "quickstart: installing bun@$BUN_VERSION with npm" >&2
  npm install -g --allow-scripts=bun "bun@$BUN_VERSION" >/dev/null 2>&1 || npm install -g "bun@$BUN_VERSION" >&2
fi
bun install --frozen-lockfile >&2
echo "quickstart: tokens are in data/tokens.yml (a host's ingest token: bun server/src/main.ts host-token HOST); try: curl -H \"Authorization: Bearer \$(sed -n 's/^read: //p' data/tokens.yml)\" http://127.0.0.1:8080/api/v1/hosts" >&2
# The console's first person: an admin with a made-up password, kept in data/console-admin.txt (0600).
if [ -z "$(bun server/src/main.ts user list "$@")" ]; then
  umask 077
  mkdir -p data
  bun server/src/main.ts user add admin --role admin "$@" > data/console-admin.txt
  echo "quickstart: console user $(cat data/console-admin.txt) (also in data/console-admin.txt)" >&2
fi
echo "quickstart: open http://127.0.0.1:8080 and sign in" >&2
exec bun server/src/main.ts "$@"
