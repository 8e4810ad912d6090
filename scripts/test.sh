#!/usr/bin/env bash
# The project's whole check, as CI runs it: formatting, lints, tests, the aarch64 build check,
# schemathesis against the live API and the static checks of deploy/.
#   ./scripts/test.sh
# Installs the Debian packages, Rust components and targets it needs first (skipped when
# present). Honours CARGO_TARGET_DIR. Stops at the first failing stage.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/lib.sh
. scripts/lib.sh
# shellcheck source=scripts/tools.sh
. scripts/tools.sh

apt_install "${BUILD_PACKAGES[@]}" "${TEST_PACKAGES[@]}"
ensure_rust
ensure_rust_component rustfmt clippy
ensure_rust_target aarch64-unknown-linux-gnu

total=$SECONDS
step fmt cargo fmt --all -- --check
step clippy cargo clippy --workspace --all-targets --locked -- -D warnings
# `sluice live` is tested through a real PulseAudio server with a null sink (no sound card
# needed): start a private one, make the tests require it, and stop it by pid on exit.
start_pulse() {
  XDG_RUNTIME_DIR=$(mktemp -d)
  export XDG_RUNTIME_DIR
  chmod 700 "$XDG_RUNTIME_DIR"
  pulseaudio --daemonize=yes --exit-idle-time=-1 -n \
    --load="module-native-protocol-unix auth-anonymous=1" \
    --load="module-null-sink sink_name=vsink rate=48000 channels=1" --load="module-always-sink"
  for _ in $(seq 50); do pactl info >/dev/null 2>&1 && break; sleep 0.1; done
  pactl info >/dev/null || die "the PulseAudio server did not start"
  pactl set-default-sink vsink
  pactl set-default-source vsink.monitor
  export SLUICE_REQUIRE_PULSE=1
}
stop_pulse() {
  if [ -n "${XDG_RUNTIME_DIR:-}" ] && [ -f "$XDG_RUNTIME_DIR/pulse/pid" ]; then
    kill "$(cat "$XDG_RUNTIME_DIR/pulse/pid")" 2>/dev/null || true
  fi
}
trap stop_pulse EXIT
step pulse start_pulse
step test cargo test --workspace --locked
# The web page in headless chromium against the binary the tests just built.
step web ./scripts/web-tests.sh
# NEON kernels cannot run here; make sure they at least compile.
step aarch64 cargo check -p sluice-engine --target aarch64-unknown-linux-gnu --locked
# Python tools (hadolint, kubernetes-validate, check-jsonschema, schemathesis) in a cached venv.
step tools ensure_py_tools
step openapi ./scripts/check-openapi.sh
step deploy ./scripts/check-deploy.sh
log "all checks passed ($((SECONDS - total)) s)"
