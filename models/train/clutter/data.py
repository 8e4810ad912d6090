"""Training and test data for the clutter filter, made by `sluice simulate-echo`.

Each clip is simulated as raw f32 (``clip_SEED.bin`` + ``.json``) and stored compactly as
``clip_SEED.npz`` with uint8 arrays ``cluttered``, ``clean`` (grey levels 0-255, exact: the
simulator quantises to k/255), ``mask`` (0/1) and ``labels`` (0 other, 1 LV myocardium,
2 LV blood), each shaped (T, H, W), plus the sidecar JSON.

Splits (disjoint seeds; the test set also holds a motion pattern never trained on):
  train: seeds [0, N), [100_000, +N), [200_000, +N) for motion patterns normal, lad, lcx
         (clutter nf/rl/both by seed)
  test-seeds:  seeds [1_000_000, +M), [1_100_000, +M), [1_200_000, +M) for normal, lad, lcx
               (held-out seeds)
  test-motion: seeds [2_000_000, +M) for rca              (held-out motion pattern)

    python data.py --sluice target/release/sluice --out /var/cache/sluice/train/clutter/data \
        --train 120 --test 8
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

TRAIN_MOTIONS = ("normal", "lad", "lcx")
HELD_OUT_MOTION = "rca"
TEST_SEED_BASE = 1_000_000
TEST_MOTION_SEED_BASE = 2_000_000
ARRAYS = ("cluttered", "clean", "mask", "labels")


def split_plan(n_train, n_test):
    """(split, motion, first seed, count) for every batch of clips to simulate."""
    plan = []
    for m, motion in enumerate(TRAIN_MOTIONS):
        plan.append(("train", motion, m * 100_000, n_train))
        plan.append(("test-seeds", motion, TEST_SEED_BASE + m * 100_000, n_test))
    plan.append(("test-motion", HELD_OUT_MOTION, TEST_MOTION_SEED_BASE, n_test))
    return plan


def load_raw(stem):
    """The four arrays of ``stem.bin`` as float32 (4, T, H, W) and the sidecar dict."""
    with open(stem + ".json") as f:
        meta = json.load(f)
    t, h, w = meta["shape"]
    data = np.fromfile(stem + ".bin", dtype="<f4").reshape(len(meta["arrays"]), t, h, w)
    return data, meta


def to_npz(stem, out_path):
    data, meta = load_raw(stem)
    arrays = {name: np.rint(data[i] * 255.0).astype(np.uint8) for i, name in enumerate(ARRAYS[:2])}
    arrays["mask"] = (data[2] > 0.5).astype(np.uint8)
    arrays["labels"] = np.rint(data[3]).astype(np.uint8)
    np.savez_compressed(out_path, meta=json.dumps(meta), **arrays)


def load_clip(path):
    """A stored clip as float32 arrays in [0, 1] (mask 0/1, labels 0/1/2) and its metadata."""
    z = np.load(path)
    clip = {name: z[name].astype(np.float32) for name in ARRAYS}
    clip["cluttered"] /= 255.0
    clip["clean"] /= 255.0
    return clip, json.loads(str(z["meta"]))


def list_split(root, split):
    d = os.path.join(root, split)
    if not os.path.isdir(d):
        return []
    return sorted(os.path.join(d, f) for f in os.listdir(d) if f.endswith(".npz"))


def generate(sluice, root, split, motion, first_seed, count, frames, size):
    out_dir = os.path.join(root, split)
    os.makedirs(out_dir, exist_ok=True)
    todo = [s for s in range(first_seed, first_seed + count)
            if not os.path.exists(os.path.join(out_dir, f"clip_{s:06d}.npz"))]
    if not todo:
        return
    # Contiguous runs of missing seeds, one sluice call each (resumable after an interruption).
    runs, start, prev = [], todo[0], todo[0]
    for s in todo[1:]:
        if s != prev + 1:
            runs.append((start, prev - start + 1))
            start = s
        prev = s
    runs.append((start, prev - start + 1))
    for seed, n in runs:
        with tempfile.TemporaryDirectory(dir=root) as tmp:
            subprocess.run([sluice, "simulate-echo", "--out", tmp, "--seed", str(seed), "--clips", str(n),
                            "--frames", str(frames), "--size", str(size), "--clutter", "mixed",
                            "--motion", motion, "--format", "raw"], check=True, stdout=subprocess.DEVNULL)
            for s in range(seed, seed + n):
                stem = os.path.join(tmp, f"clip_{s:06d}")
                final = os.path.join(out_dir, f"clip_{s:06d}.npz")
                to_npz(stem, final + ".part.npz")
                os.replace(final + ".part.npz", final)
                os.remove(stem + ".bin")
        print(f"{split}/{motion}: seeds {seed}..{seed + n - 1} done", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sluice", required=True, help="path to the sluice binary (release build)")
    ap.add_argument("--out", required=True, help="data root (train/, test-seeds/, test-motion/)")
    ap.add_argument("--train", type=int, default=120, help="training clips per motion pattern")
    ap.add_argument("--test", type=int, default=8, help="test clips per motion pattern")
    ap.add_argument("--frames", type=int, default=32)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--only", choices=["train", "test"], help="generate one side only")
    args = ap.parse_args()
    plan = split_plan(args.train, args.test)
    # Test sets first: evaluation needs them early and they are small.
    plan.sort(key=lambda p: p[0] == "train")
    for split, motion, seed, count in plan:
        if args.only == "train" and split != "train" or args.only == "test" and split == "train":
            continue
        generate(args.sluice, args.out, split, motion, seed, count, args.frames, args.size)
    return 0


if __name__ == "__main__":
    sys.exit(main())
