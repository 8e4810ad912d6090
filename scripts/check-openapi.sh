#!/usr/bin/env bash
# Fuzzes the live API against its own /openapi.json with schemathesis: starts the test build of
# `sluice serve` on a free loopback port, runs `st run` for a bounded time, stops the server.
#   ./scripts/check-openapi.sh            (after `cargo test`, which builds target/debug/sluice)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/lib.sh
. scripts/lib.sh
# shellcheck source=scripts/tools.sh
. scripts/tools.sh

ensure_py_tools
# The integration tests' build of the binary (a no-op after `cargo test`).
cargo test -p sluice-server --locked --no-run >/dev/null 2>&1 || cargo test -p sluice-server --locked --no-run
target_dir=${CARGO_TARGET_DIR:-target}
sluice="$target_dir/debug/sluice"
[ -x "$sluice" ] || die "no test build of sluice at $sluice"

work=$(mktemp -d)
server_pid=
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
mkdir "$work/spool"
"$sluice" --log-format json serve --addr 127.0.0.1:0 --threads 1 --spool-dir "$work/spool" \
  --max-upload 4MiB 2>"$work/server.log" &
server_pid=$!
addr=
for _ in $(seq 300); do
  addr=$(grep -o '"message":"listening","addr":"[^"]*"' "$work/server.log" | head -1 | sed 's/.*"addr":"\([^"]*\)"/\1/') || true
  [ -n "$addr" ] && break
  kill -0 "$server_pid" 2>/dev/null || die "sluice serve exited: $(cat "$work/server.log")"
  sleep 0.1
done
[ -n "$addr" ] || die "sluice serve did not start: $(cat "$work/server.log")"
st --config-file scripts/schemathesis.toml run "http://$addr/openapi.json" --max-time 30 --workers 1
[ -z "$(ls -A "$work/spool")" ] || die "uploads left in the spool directory: $(ls "$work/spool")"
log "schemathesis found nothing"
