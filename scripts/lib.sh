# shellcheck shell=bash
# Helpers shared by scripts/serve.sh and scripts/test.sh (sourced, not run).
#
# Everything here is idempotent: a package or toolchain piece that is already present is left
# alone, and `apt-get update` runs at most once, only when something is missing.

# Debian packages the build needs. Add a crate's system libraries here (with a comment naming
# the crate), not in the individual scripts. (Arrays here are read by the sourcing scripts.)
# shellcheck disable=SC2034
BUILD_PACKAGES=(
  ca-certificates # cargo's TLS to the crate registry
  gcc             # the linker driver rustc calls (`cc`)
  libc6-dev       # crt objects and libc for linking
  pkg-config      # alsa-sys (under cpal, `sluice live`) finds libasound with it
  libasound2-dev  # cpal links ALSA on Linux whatever its features (the fallback audio system)
  # ffmpeg-next (pipeline/src/video): FFmpeg's libraries and headers, bindgen's libclang, pkg-config to find them
  clang
  libavcodec-dev
  libavformat-dev
  libavutil-dev
  libswscale-dev
  libswresample-dev
)

# Extra Debian packages the test suite needs on top of the build's.
# shellcheck disable=SC2034
TEST_PACKAGES=(
  flac         # server/tests/denoise_cli.rs encodes its FLAC input with these three
  vorbis-tools # (oggenc) Ogg Vorbis input
  lame         # MP3 input
  prometheus   # (promtool) server/tests/http_api.rs lints a real /metrics scrape with `promtool check metrics`
  python3-venv # scripts/tools.sh: venv for hadolint, kubernetes-validate, check-jsonschema, schemathesis
  alsa-utils   # /usr/share/sounds/alsa/*.wav: real speech for the WebSocket, loadtest and live-audio tests
  chromium     # scripts/web-tests.sh drives the web page in headless chromium
  firefox-esr  # ... and in headless Firefox (web/tests/firefox.test.mjs)
  pulseaudio       # server/tests/live_pulse.rs: a real sound server with a null sink (no sound card)
  pulseaudio-utils # pactl (null sink set-up) and paplay (plays speech into the sink)
  ffmpeg       # server/tests/upscale_cli.rs makes its clips/images with the CLI and probes outputs with ffprobe
  python3-pydicom # server/tests/declutter_dicom.rs: DICOM fixtures and read-back by an independent implementation
  python3-pil     # the fixtures' PNG/JPEG frames, and pydicom's JPEG decoding of the outputs
  python3-numpy   # pydicom's pixel arrays (only recommended by python3-pydicom)
)

# Toolchain the workspace declares (`rust-version` in Cargo.toml).
SLUICE_RUST_VERSION=1.95

log() { printf '==> %s\n' "$*" >&2; }
die() {
  printf 'error: %s\n' "$*" >&2
  exit 1
}

# Runs a command as root: directly when we are root, else through sudo.
as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    die "need root (or sudo) to run: $*"
  fi
}

_apt_updated=0

# apt_install PKG...: installs the named Debian packages that are not installed yet.
apt_install() {
  local missing=() pkg
  for pkg in "$@"; do
    if [[ "$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null)" != *"install ok installed"* ]]; then
      missing+=("$pkg")
    fi
  done
  [ "${#missing[@]}" -eq 0 ] && return 0
  command -v apt-get >/dev/null 2>&1 || die "missing system packages (${missing[*]}) and no apt-get to install them"
  if [ "$_apt_updated" -eq 0 ]; then
    log "apt-get update"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
    _apt_updated=1
  fi
  log "apt-get install ${missing[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
}

# ensure_rust: makes cargo available, installing a minimal rustup toolchain if there is none.
ensure_rust() {
  if ! command -v cargo >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo" ]; then
    export PATH="$HOME/.cargo/bin:$PATH"
  fi
  if ! command -v cargo >/dev/null 2>&1; then
    log "no cargo found: installing Rust $SLUICE_RUST_VERSION with rustup"
    apt_install curl ca-certificates
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs |
      sh -s -- -y --profile minimal --default-toolchain "$SLUICE_RUST_VERSION"
    export PATH="$HOME/.cargo/bin:$PATH"
  fi
  log "$(cargo --version)"
}

# ensure_rust_component NAME...: adds rustup components (rustfmt, clippy) that are missing.
ensure_rust_component() {
  local c
  for c in "$@"; do
    case "$c" in
      rustfmt) cargo fmt --version >/dev/null 2>&1 && continue ;;
      clippy) cargo clippy --version >/dev/null 2>&1 && continue ;;
    esac
    command -v rustup >/dev/null 2>&1 || die "cargo $c is missing and there is no rustup to add it"
    log "rustup component add $c"
    rustup component add "$c"
  done
}

# ensure_rust_target TRIPLE: adds a rustup target's standard library if it is missing.
ensure_rust_target() {
  if command -v rustup >/dev/null 2>&1; then
    grep -qx -- "$1" <<<"$(rustup target list --installed)" || {
      log "rustup target add $1"
      rustup target add "$1"
    }
  else
    rustc --print target-libdir --target "$1" >/dev/null 2>&1 || die "target $1 missing and there is no rustup to add it"
  fi
}

# step NAME CMD...: runs one stage, timing it; stops the script on failure (set -e).
step() {
  local name=$1 start=$SECONDS
  shift
  log "$name: $*"
  "$@"
  log "$name: ok ($((SECONDS - start)) s)"
}
