#!/usr/bin/env bash
# One session on a lent CUDA machine (see models/weights/PROVENANCE.md): while the CPU cores
# simulate clutter-filter training clips, the GPU trains, side by side, the bundled clutter net
# (n0 8, 3 levels, from its checkpoint), a 4-level variant from scratch, and ESPCN x2 from its
# checkpoint, each for SECS seconds. Results and logs go to $OUT. Of its first run (2026-11-26)
# ESPCN x2 was kept and both clutter runs diverged (models/weights/PROVENANCE.md); the guarded
# clutter driver now defaults to lr 1e-4 with a fresh optimiser.
#
#   IN=target/gpu OUT=/tmp/gpu-out SECS=420 bash models/train/gpu_session.sh
# IN holds: sluice-sim (a release `sluice` binary), clutter.pt and espcn_x2.pt (checkpoints to
# continue), espcn-hr8/ (espcn/train_gpu.py pack of fetch_data.py's planes).
set -u
IN=$(realpath "${IN:-target/gpu}")
OUT=$(realpath "${OUT:?set OUT}")
SECS=${SECS:-420}
DEVICE=${DEVICE:-cuda}
PROCS=${PROCS:-$(( $(nproc) > 4 ? $(nproc) - 3 : 1 ))}
PER_MOTION=${PER_MOTION:-500}
export PYTHONUNBUFFERED=1
PY=${PY:-python3}
cd "$(dirname "$0")" || exit 1
nvidia-smi -L 2>/dev/null || true
"$PY" -c 'import torch; print("torch", torch.__version__, "cuda", torch.cuda.is_available())'
DATA=$(mktemp -d)
"$PY" clutter/train_gpu.py gen --sim "$IN/sluice-sim" --out "$DATA" --per-motion "$PER_MOTION" \
    --procs "$PROCS" > "$OUT/gen.log" 2>&1 &
"$PY" clutter/train_gpu.py train --device "$DEVICE" --data "$DATA" --work "$OUT/clutter-l3" \
    --init "$IN/clutter.pt" --seconds "$SECS" > "$OUT/clutter-l3.out" 2>&1 &
"$PY" clutter/train_gpu.py train --device "$DEVICE" --data "$DATA" --work "$OUT/clutter-l4" \
    --levels 4 --seconds "$SECS" > "$OUT/clutter-l4.out" 2>&1 &
"$PY" espcn/train_gpu.py train --device "$DEVICE" --data "$IN/espcn-hr8" --ckpt "$IN/espcn_x2.pt" \
    --out "$OUT/espcn_x2.pt" --seconds "$SECS" > "$OUT/espcn-x2.out" 2>&1 &
trainers=$(jobs -p | tail -n 3)
# shellcheck disable=SC2086
wait $trainers
kill %1 2>/dev/null
tail -n 3 "$OUT"/*.out "$OUT/gen.log"
