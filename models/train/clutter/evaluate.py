"""Evaluates a clutter-filter checkpoint on the held-out splits with the metrics of
specs/clutter.md, next to the cluttered input as the baseline.

Per split (test-seeds: seeds never trained on; test-motion: the RCA motion pattern, never
trained on), over full 128x128x32 clips, with the filter's output clipped to [0, 1] and rounded
to 8-bit grey levels (what a display or file gets):
  mae_all / mae_in / mae_out   MAE (0-255) vs the clean clip: whole clip, inside the clutter
                               mask, outside it (= leakage: the filter must not alter clean regions)
  psnr / ssim                  per frame, averaged
  coherency                    E_f = sum |x - clean| per frame; mean over f of |E_f - E_{f+1}|
                               (lower is smoother), in grey levels per pixel (E_f / pixels)
  cnr                          |mu_myo - mu_blood| / sqrt(var_myo + var_blood) inside the mask
                               (clips with >= 30 pixels of each), for clean / cluttered / filtered
  ms_per_frame                 PyTorch whole-clip inference time / frames (this machine, under load)
Targets (issue 7): mae_in reduced >= 60 % vs the input, leakage <= 1.0, coherency no worse than
the input's, CNR restored towards the clean clip.

    python evaluate.py --data /var/cache/sluice/train/clutter/data \
        --checkpoint /var/cache/sluice/train/clutter/checkpoint.pt [--json out.json]
"""

import argparse
import json
import os
import sys
import time

import numpy as np
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from data import list_split, load_clip  # noqa: E402
from model import ClutterNet, primed  # noqa: E402


def load_model(path):
    state = torch.load(path, weights_only=False, map_location="cpu")
    cfg = state.get("config", {})
    model = ClutterNet(cfg.get("n0", 8), cfg.get("levels", 3))
    model.load_state_dict(state["model"])
    model.eval()
    return model, state.get("step")


def coherency(x, clean):
    e = np.abs(x - clean).reshape(x.shape[0], -1).mean(axis=1) * 255.0
    return float(np.abs(np.diff(e)).mean())


def cnr(x, mask, labels):
    myo = x[(mask > 0) & (labels == 1)]
    blood = x[(mask > 0) & (labels == 2)]
    if len(myo) < 30 or len(blood) < 30:
        return None
    return float(abs(myo.mean() - blood.mean()) / np.sqrt(myo.var() + blood.var() + 1e-12))


def clip_metrics(x, clean, mask):
    d = np.abs(x - clean) * 255.0
    inside = mask > 0
    return {
        "mae_all": float(d.mean()),
        "mae_in": float(d[inside].mean()) if inside.any() else None,
        "mae_out": float(d[~inside].mean()),
        "psnr": float(np.mean([peak_signal_noise_ratio(clean[t], x[t], data_range=1.0)
                               if np.any(clean[t] != x[t]) else 100.0 for t in range(len(x))])),
        "ssim": float(np.mean([structural_similarity(clean[t], x[t], data_range=1.0) for t in range(len(x))])),
        "coherency": coherency(x, clean),
    }


def mean_of(rows, key):
    v = [r[key] for r in rows if r.get(key) is not None]
    return float(np.mean(v)) if v else None


def evaluate_split(model, files, prime=0):
    per = {"input": [], "filtered": []}
    cnrs = {"clean": [], "input": [], "filtered": []}
    seconds, frames = 0.0, 0
    for path in files:
        clip, _ = load_clip(path)
        x, clean, mask, labels = clip["cluttered"], clip["clean"], clip["mask"], clip["labels"]
        with torch.no_grad():
            t0 = time.perf_counter()
            y = primed(model, torch.from_numpy(x)[None, None], prime)[0, 0].numpy()
            seconds += time.perf_counter() - t0
            frames += len(x)
        y = np.rint(np.clip(y, 0.0, 1.0) * 255.0) / 255.0
        per["input"].append(clip_metrics(x, clean, mask))
        per["filtered"].append(clip_metrics(y, clean, mask))
        c = [cnr(a, mask, labels) for a in (clean, x, y)]
        if all(v is not None for v in c):
            for k, v in zip(("clean", "input", "filtered"), c):
                cnrs[k].append(v)
    out = {name: {k: mean_of(rows, k) for k in rows[0]} for name, rows in per.items()}
    out["cnr"] = {k: (float(np.mean(v)) if v else None) for k, v in cnrs.items()}
    out["cnr_clips"] = len(cnrs["clean"])
    out["clips"] = len(files)
    out["ms_per_frame"] = 1e3 * seconds / max(frames, 1)
    i, f = out["input"]["mae_in"], out["filtered"]["mae_in"]
    out["mae_in_reduction"] = (1.0 - f / i) if i else None
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True)
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--json", help="also write the results here")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--prime", type=int, help="frames of priming (default: the checkpoint's, else 0)")
    ap.add_argument("--limit", type=int, default=0, help="at most this many clips per split (0 = all)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    model, step = load_model(args.checkpoint)
    state = torch.load(args.checkpoint, weights_only=False, map_location="cpu")
    prime = state.get("config", {}).get("prime", 0) if args.prime is None else args.prime
    results = {"checkpoint": args.checkpoint, "step": step, "prime": prime}
    for split in ("test-seeds", "test-motion"):
        files = list_split(args.data, split)
        if args.limit:
            files = files[:args.limit]
        if not files:
            print(f"{split}: no clips", file=sys.stderr)
            continue
        r = evaluate_split(model, files, prime)
        results[split] = r
        print(f"== {split} ({r['clips']} clips, step {step})")
        for key in ("mae_all", "mae_in", "mae_out", "psnr", "ssim", "coherency"):
            a, b = r["input"][key], r["filtered"][key]
            print(f"  {key:10s} input {a:8.3f}   filtered {b:8.3f}")
        print(f"  mae_in reduction {100 * (r['mae_in_reduction'] or 0):.1f} %  (target >= 60 %)")
        c = r["cnr"]
        if c["clean"] is not None:
            print(f"  CNR in mask ({r['cnr_clips']} clips): clean {c['clean']:.3f} input {c['input']:.3f} "
                  f"filtered {c['filtered']:.3f}")
        print(f"  {r['ms_per_frame']:.1f} ms/frame (PyTorch, whole clip)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
