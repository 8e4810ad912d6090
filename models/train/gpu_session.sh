#!/usr/bin/env bash
# One session on a lent CUDA machine (see models/weights/PROVENANCE.md): while the CPU cores
# simulate clutter-filter training clips, the GPU trains variants of the clutter net side by side
# for SECS seconds each, with PReLU activations (model.py act="prelu"):
#   warm      the checkpoint in IN, slopes starting at 1.0 (= the linear net), MSE + mask +
#             coherency terms
#   scratch   the same net from scratch, slopes starting at 0.25
#   warm-mse  like warm, plain MSE (the paper's loss): the recipe of step 10514 (the 3-level net
#             the bundled 4-level one was deepened from)
#   l4-mse    a 4-level PReLU net from scratch (slopes from 0.25), plain MSE (1.5x the
#             inference cost of the 3-level net: 4.25 GFLOP a 128x128 frame; not run yet)
#   l4-deep   the same 4-level net started from IN/clutter_l4.pt, the 3-level checkpoint with a
#             level added by clutter/deepen.py (same function at the start), plain MSE, lr LR
#             (default 1e-4)
#   l4-deep-hi  the same at lr LR_HI (default 2e-4), to run beside l4-deep as a learning-rate hedge
# RUNS picks them (default: warm scratch warm-mse, which ran on 2026-11-26: PROVENANCE.md,
# phase 3); LR sets warm-mse's peak learning rate (default 2e-4). Each keeps the checkpoint that
# scores best on 48 validation clips (train motions, seeds the trainer never sees) and is then
# scored on the held-out test splits (evaluate.py, appended to its log). Results in $OUT: gen.log
# and RUN/{best.pt,train_gpu.log}. Runs side by side share the GPU: three ran at 4.8 steps/s
# each, one alone at 14.5 (batch 8, H200), so side by side buys comparisons, not speed. The
# bundled 4-level net (step 12218) is l4-deep-hi alone for 135 s (2026-11-27, PROVENANCE.md
# phase 4, 13.6 steps/s), run by hand with this script's train arguments plus --warmup 10
# --eval-every 20, its validation still improving when the time ran out.
#
#   IN=.gpu OUT=/tmp/gpu-out SECS=470 bash models/train/gpu_session.sh
# IN holds: sluice-sim (the simulator: the `simulate_raw` example, which links only the C
# library; the lent machines have no FFmpeg or ALSA, so the full `sluice` binary does not start
# there and every clip fails with exit status 127), clutter.pt (the checkpoint to continue) and
# data/test-{seeds,motion}/ (data.py's held-out clips). GEN_EXTRA and TRAIN_EXTRA add arguments
# to the gen and train commands (a CPU smoke test: DEVICE=cpu SECS=20 GEN_EXTRA="--frames 8
# --size 32" TRAIN_EXTRA="--batch 2 --min-clips 4").
# Making IN (here, before the call; the run carries it; a fresh machine has no training cache):
# echo /.gpu/ >> .git/info/exclude; mkdir -p .gpu/data;
# cargo build --release -p sluice-pipeline --example simulate_raw;
# strip -o .gpu/sluice-sim target/release/examples/simulate_raw;
# python models/train/clutter/export.py --from-export models/weights/clutter.safetensors --out .gpu/clutter.pt
# (or cp CHECKPOINT .gpu/clutter.pt); python models/train/clutter/data.py --sluice
# target/release/sluice --out .gpu/data --only test (about 30 s, 27 MB);
# for the l4 runs from a 3-level checkpoint: python models/train/clutter/deepen.py
# --checkpoint .gpu/clutter.pt --out .gpu/clutter_l4.pt (the bundled net has 4 levels already:
# give it as clutter_l4.pt).
set -u
IN=$(realpath "${IN:-.gpu}")
OUT=$(realpath "${OUT:?set OUT}")
SECS=${SECS:-470}
DEVICE=${DEVICE:-cuda}
PROCS=${PROCS:-$(( $(nproc) > 4 ? $(nproc) - 3 : 1 ))}
PER_MOTION=${PER_MOTION:-600}
export PYTHONUNBUFFERED=1
PY=${PY:-python3}
cd "$(dirname "$0")/clutter" || exit 1
nvidia-smi -L 2>/dev/null || true
"$PY" -c 'import torch; print("torch", torch.__version__, "cuda", torch.cuda.is_available())'
DATA=$(mktemp -d)
# Validation: seeds 900..947 of each train motion (training uses 0..PER_MOTION-1 < 900).
"$PY" train_gpu.py gen --sim "$IN/sluice-sim" --out "$DATA/val" --start 900 --per-motion 16 \
    --procs "$PROCS" ${GEN_EXTRA:-} > "$OUT/gen.log" 2>&1
"$PY" train_gpu.py gen --sim "$IN/sluice-sim" --out "$DATA/train" --per-motion "$PER_MOTION" \
    --procs "$PROCS" ${GEN_EXTRA:-} >> "$OUT/gen.log" 2>&1 &
gen=$!
common=(--device "$DEVICE" --data "$DATA/train" --val "$DATA/val" --seconds "$SECS" --act prelu
        --amp bf16 --tf32 --batch 8 --prime 8 ${TRAIN_EXTRA:-})
run() {
    local name=$1
    shift
    mkdir -p "$OUT/$name"
    "$PY" train_gpu.py train "${common[@]}" --work "$OUT/$name" --last "$DATA/$name-last.pt" "$@" \
        > /dev/null 2>> "$OUT/$name/train_gpu.log" &
}
RUNS=${RUNS:-warm scratch warm-mse}
for name in $RUNS; do
    case $name in
        warm) run warm --init "$IN/clutter.pt" --slope 1.0 --lr 2e-4 --mask-weight 1 --coh-weight 2 ;;
        scratch) run scratch --slope 0.25 --lr 3e-4 --mask-weight 1 --coh-weight 2 ;;
        warm-mse) run warm-mse --init "$IN/clutter.pt" --slope 1.0 --lr "${LR:-2e-4}" --mask-weight 0 --coh-weight 0 ;;
        l4-mse) run l4-mse --levels 4 --slope 0.25 --lr 2e-4 --mask-weight 0 --coh-weight 0 ;;
        l4-deep) run l4-deep --init "$IN/clutter_l4.pt" --lr "${LR:-1e-4}" --mask-weight 0 --coh-weight 0 ;;
        l4-deep-hi) run l4-deep-hi --init "$IN/clutter_l4.pt" --lr "${LR_HI:-2e-4}" --mask-weight 0 --coh-weight 0 ;;
        *) echo "unknown run $name" >&2; exit 2 ;;
    esac
done
trainers=$(jobs -p | grep -v "^$gen\$")
# shellcheck disable=SC2086
wait $trainers
kill "$gen" 2>/dev/null
for name in $RUNS; do
    [ -f "$OUT/$name/best.pt" ] && "$PY" evaluate.py --device "$DEVICE" --data "$IN/data" \
        --checkpoint "$OUT/$name/best.pt" >> "$OUT/$name/train_gpu.log" 2>&1 &
done
wait
tail -n 4 "$OUT/gen.log"
for name in $RUNS; do echo "== $name"; grep -v "^20.* step [0-9]*00 loss" "$OUT/$name/train_gpu.log" | tail -n 40; done
