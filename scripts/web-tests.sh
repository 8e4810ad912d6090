#!/usr/bin/env bash
# Real-browser tests of the web page (web/tests): Debian chromium driven by playwright-core and
# Debian firefox-esr driven by puppeteer-core (WebDriver BiDi),
# against the `sluice` binary that `cargo test` built in $CARGO_TARGET_DIR (or ./target).
#   ./scripts/web-tests.sh [node --test args...]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/lib.sh
. scripts/lib.sh

command -v node >/dev/null 2>&1 || apt_install nodejs npm
apt_install chromium firefox-esr
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
[ -x "$CARGO_TARGET_DIR/debug/sluice" ] || die "no $CARGO_TARGET_DIR/debug/sluice: run cargo test first"
cd web/tests
npm ci --no-audit --no-fund --loglevel=error
# One browser at a time: the machine has two cores and the live test runs in real time.
node --test --test-concurrency=1 "$@"
