#!/bin/sh
# Export the latest ESPCN checkpoints into models/weights/, regenerate the golden fixtures from
# them and evaluate them (markdown tables on stdout, JSON in models/weights/espcn_eval.json).
# Safe while train.py runs: checkpoints are replaced atomically.
#   models/train/espcn/publish.sh        (PY=... to use another Python with torch + safetensors)
set -eu
PY=${PY:-/var/cache/sluice/torch-venv/bin/python}
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../../.." && pwd)
W="$REPO/models/weights"
cd "$HERE"
"$PY" export.py --out "$W"
"$PY" "$REPO/models/tests/fixtures/espcn/make_golden.py"
"$PY" evaluate.py --weights "$W/espcn_x2.safetensors" "$W/espcn_x3.safetensors" "$W/espcn_x4.safetensors" \
    --json "$W/espcn_eval.json"
