#!/usr/bin/env bash
# Builds sluice (release) and runs `sluice serve`; arguments go to `sluice serve`.
#   ./scripts/serve.sh --addr 127.0.0.1:8080 --threads 2
# Installs the Debian packages and Rust toolchain it needs first (skipped when present).
# Honours CARGO_TARGET_DIR.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/lib.sh
. scripts/lib.sh

apt_install "${BUILD_PACKAGES[@]}"
ensure_rust
step build cargo build --release --locked -p sluice-server --bin sluice

target_dir=${CARGO_TARGET_DIR:-}
if [ -z "$target_dir" ]; then
  target_dir=$(cargo metadata --format-version 1 --no-deps --locked | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
fi
[ -x "$target_dir/release/sluice" ] || die "built binary not found at $target_dir/release/sluice"
# exec: signals (SIGTERM, Ctrl-C) go straight to the server, which drains and exits.
exec "$target_dir/release/sluice" serve "$@"
