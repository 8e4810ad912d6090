#!/usr/bin/env bash
# Static checks of deploy/ (no Docker engine or cluster runs here): hadolint on the Dockerfile,
# the compose-spec schema on compose.yaml, `kubectl kustomize` rendering of deploy/k8s and
# kubernetes-validate --strict on the rendered objects, plus the HTTPRoute against the vendored
# Gateway API schema (kubernetes-validate has no schemas for CRDs). The image's entrypoint,
# health check and SIGTERM drain are exercised by server/tests/image.rs.
#   ./scripts/check-deploy.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/lib.sh
. scripts/lib.sh
# shellcheck source=scripts/tools.sh
. scripts/tools.sh

ensure_py_tools
ensure_kubectl

# DL3008 (pin apt versions) is off: bookworm's security updates would break pinned versions.
hadolint --ignore DL3008 deploy/Dockerfile
check-jsonschema --builtin-schema vendor.compose-spec deploy/compose.yaml

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
kubectl kustomize deploy/k8s >"$work/rendered.yaml"
kubernetes-validate --strict -k 1.30.0 "$work/rendered.yaml" 2>&1 | tee "$work/validate.log"
[ "${PIPESTATUS[0]}" -eq 0 ] || die "kubernetes-validate failed"
# Only the HTTPRoute may lack a built-in schema; it is checked against the vendored one below.
if grep "Couldn't find schema" "$work/validate.log" | grep -v "kind HTTPRoute with api version gateway.networking.k8s.io/v1" >/dev/null; then
  die "a rendered object has no schema to validate against"
fi
check-jsonschema --schemafile deploy/k8s/schemas/httproute-v1.schema.json deploy/k8s/httproute.yaml

# The runtime stage must install the package of every shared library the binary links directly
# (a library added to the build, e.g. by a new crate, would otherwise fail only at `docker run`).
# The binary built here links the same libraries as the image's: both are Debian 12.
binary="${CARGO_TARGET_DIR:-target}/debug/sluice"
[ -x "$binary" ] || die "no $binary: build the workspace first"
runtime_stage=$(awk '/^FROM /{stage=""} {stage = stage $0 "\n"} END{printf "%s", stage}' deploy/Dockerfile)
# In debian:bookworm-slim already: the C and C++ runtimes.
base="libc6 libgcc-s1 libstdc++6"
# No reader in these pipes stops early (`exit`, `head`, `grep -q`): under pipefail the writer's
# SIGPIPE (exit 141) would fail the check at random.
libs=$(ldconfig -p)
for lib in $(readelf -d "$binary" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
  path=$(awk -v l="$lib" '$1 == l && /x86-64|x86_64/ && !found {print $NF; found = 1}' <<<"$libs")
  [ -n "$path" ] || die "cannot locate $lib"
  owners=$(dpkg -S "$(readlink -f "$path")" 2>/dev/null || dpkg -S "$path" 2>/dev/null || true)
  pkg=$(awk -F: 'NR == 1 {print $1}' <<<"$owners")
  [ -n "$pkg" ] || die "no Debian package owns $path (for $lib)"
  case " $base " in *" $pkg "*) continue ;; esac
  grep -qw -- "$pkg" <<<"$runtime_stage" || die "deploy/Dockerfile's runtime stage lacks $pkg (for $lib)"
done
log "deploy/ checks passed"
