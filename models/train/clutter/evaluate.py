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

--smooth SPEC (repeatable) also scores the output with the network's correction c = output - input
smoothed causally over time, per pixel, before clipping and rounding (the network runs once per
clip; every SPEC is scored on the same output, next to the unsmoothed one):
  ema:A         s[0] = c[0], s[t] = A*c[t] + (1-A)*s[t-1]          (0 < A <= 1; A = 1 is no smoothing)
  mean:K        s[t] = mean of c[t-K+1..t] (fewer at the start)     (K >= 1)
  ema:A@G       like ema:A, but only where |c[t]| >= G grey levels; elsewhere s[t] = c[t]
  avg:A         like ema:A with the weight max(A, 1/(t+1)): the running mean of all corrections so
                far until 1/(t+1) falls to A, then an EMA (0 <= A <= 1; avg:0 = running mean)
--gate ALPHA,BOX,LEVEL scores the output through that correction gate (model.gate_correction);
the default is the checkpoint's own (config `gate`, from `export.py --from-export` of gated
weights), `--gate none` scores the network without it.
--cache DIR keeps the network's raw outputs (one .npy per clip) so that later runs with other
--smooth settings skip the network (ms_per_frame is then 0 for cached clips).

    python evaluate.py --data /var/cache/sluice/train/clutter/data \
        --checkpoint /var/cache/sluice/train/clutter/checkpoint.pt [--smooth ema:0.3] [--json out.json]
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
from model import ClutterNet, parse_gate, primed  # noqa: E402


def load_model(path):
    state = torch.load(path, weights_only=False, map_location="cpu")
    cfg = state.get("config", {})
    model = ClutterNet(cfg.get("n0", 8), cfg.get("levels", 3), cfg.get("act", "linear"))
    model.load_state_dict(state["model"])
    model.eval()
    return model, state.get("step")


def to_8bit(x):
    """The filter's output as a display or file gets it: clipped to [0, 1], rounded to k/255."""
    return np.rint(np.clip(x, 0.0, 1.0) * 255.0) / 255.0


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


def parse_smooth(spec):
    """`ema:A`, `mean:K`, `ema:A@G` or `avg:A` -> (kind, param, gate in [0,1] units); ValueError otherwise."""
    kind, _, arg = spec.partition(":")
    if kind == "avg":
        a = float(arg)
        if not 0.0 <= a <= 1.0:
            raise ValueError(f"bad smoothing {spec!r}: avg:A needs 0 <= A <= 1")
        return ("avg", a, 0.0)
    if kind == "ema":
        a, _, g = arg.partition("@")
        a = float(a)
        gate = float(g) / 255.0 if g else 0.0
        if not 0.0 < a <= 1.0 or gate < 0.0:
            raise ValueError(f"bad smoothing {spec!r}: ema:A needs 0 < A <= 1, @G >= 0")
        return ("ema", a, gate)
    if kind == "mean":
        k = int(arg)
        if k < 1:
            raise ValueError(f"bad smoothing {spec!r}: mean:K needs K >= 1")
        return ("mean", k, 0.0)
    raise ValueError(f"bad smoothing {spec!r}: expected ema:A, ema:A@G, avg:A or mean:K")


def smooth_correction(c, smooth):
    """Causal per-pixel smoothing of the correction c (T, H, W) over t; see --smooth."""
    kind, p, gate = smooth
    s = np.empty_like(c)
    if kind == "ema":
        s[0] = c[0]
        for t in range(1, len(c)):
            e = p * c[t] + (1.0 - p) * s[t - 1]
            s[t] = np.where(np.abs(c[t]) >= gate, e, c[t]) if gate > 0 else e
    elif kind == "avg":
        s[0] = c[0]
        for t in range(1, len(c)):
            a = max(p, 1.0 / (t + 1))
            s[t] = a * c[t] + (1.0 - a) * s[t - 1]
    else:
        csum = np.cumsum(c.astype(np.float64), axis=0)
        for t in range(len(c)):
            lo = t - p
            s[t] = (csum[t] - (csum[lo] if lo >= 0 else 0.0)) / (t - max(lo, -1))
    return s


def mean_of(rows, key):
    v = [r[key] for r in rows if r.get(key) is not None]
    return float(np.mean(v)) if v else None


def network_output(model, x, prime, cache, path, gate=None):
    """The network's output (through the correction gate, when given) for clip x and the seconds
    it took (0 when read from the cache). Runs where the model's parameters are (CPU, or a lent
    GPU with `--device cuda`)."""
    tag = f".prime{prime}" + (".gate{:g},{},{:g}".format(*gate) if gate else "")
    cached = os.path.join(cache, f"{os.path.basename(os.path.dirname(path))}_{os.path.basename(path)}"
                          f"{tag}.npy") if cache else None
    if cached and os.path.exists(cached):
        return np.load(cached), 0.0
    with torch.no_grad():
        t0 = time.perf_counter()
        dev = next(model.parameters()).device
        y = primed(model, torch.from_numpy(x).to(dev)[None, None], prime, gate)[0, 0].cpu().numpy()
        seconds = time.perf_counter() - t0
    if cached:
        np.save(cached, y)
    return y, seconds


def evaluate_split(model, files, prime=0, smooths=(), cache=None, gate=None):
    """Metrics of the input and the filtered clip per split; with `smooths` (spec strings), also
    of the output with each smoothing of the correction, as `filtered[spec]`."""
    names = ["filtered"] + [f"filtered[{spec}]" for spec in smooths]
    parsed = [parse_smooth(spec) for spec in smooths]
    per = {name: [] for name in ["input"] + names}
    cnrs = {name: [] for name in ["clean", "input"] + names}
    seconds, frames = 0.0, 0
    for path in files:
        clip, _ = load_clip(path)
        x, clean, mask, labels = clip["cluttered"], clip["clean"], clip["mask"], clip["labels"]
        y, sec = network_output(model, x, prime, cache, path, gate)
        seconds += sec
        frames += len(x) if sec > 0 else 0
        outs = [y] + [x + smooth_correction(y - x, p) for p in parsed]
        outs = [to_8bit(o) for o in outs]
        per["input"].append(clip_metrics(x, clean, mask))
        for name, o in zip(names, outs):
            per[name].append(clip_metrics(o, clean, mask))
        c = [cnr(a, mask, labels) for a in [clean, x] + outs]
        if all(v is not None for v in c):
            for k, v in zip(cnrs, c):
                cnrs[k].append(v)
    out = {name: {k: mean_of(rows, k) for k in rows[0]} for name, rows in per.items()}
    out["cnr"] = {k: (float(np.mean(v)) if v else None) for k, v in cnrs.items()}
    out["cnr_clips"] = len(cnrs["clean"])
    out["clips"] = len(files)
    out["ms_per_frame"] = 1e3 * seconds / max(frames, 1)
    i = out["input"]["mae_in"]
    out["mae_in_reduction"] = (1.0 - out["filtered"]["mae_in"] / i) if i else None
    out["mae_in_reduction_smoothed"] = {spec: (1.0 - out[name]["mae_in"] / i) if i else None
                                        for spec, name in zip(smooths, names[1:])}
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True)
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--json", help="also write the results here")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu", help="where the network runs (cuda on a lent GPU)")
    ap.add_argument("--prime", type=int, help="frames of priming (default: the checkpoint's, else 0)")
    ap.add_argument("--limit", type=int, default=0, help="at most this many clips per split (0 = all)")
    ap.add_argument("--smooth", action="append", default=[], metavar="SPEC",
                    help="also score with the correction smoothed causally: ema:A, ema:A@G, avg:A, mean:K (repeatable)")
    ap.add_argument("--cache", help="directory for the network's raw outputs, reused by later runs")
    ap.add_argument("--gate", metavar="ALPHA,BOX,LEVEL",
                    help="the correction gate (model.gate_correction); `none` = without (default: the checkpoint's)")
    args = ap.parse_args()
    try:
        gate_flag = None if args.gate in (None, "none") else parse_gate(args.gate)
    except ValueError as e:
        ap.error(str(e))
    for spec in args.smooth:
        try:
            parse_smooth(spec)
        except ValueError as e:
            ap.error(str(e))
    if args.cache:
        os.makedirs(args.cache, exist_ok=True)
    torch.set_num_threads(args.threads)
    model, step = load_model(args.checkpoint)
    model.to(args.device)
    state = torch.load(args.checkpoint, weights_only=False, map_location="cpu")
    prime = state.get("config", {}).get("prime", 0) if args.prime is None else args.prime
    gate = state.get("config", {}).get("gate") if args.gate is None else gate_flag
    results = {"checkpoint": args.checkpoint, "step": step, "prime": prime, "smooth": args.smooth,
               "gate": list(gate) if gate else None}
    for split in ("test-seeds", "test-motion"):
        files = list_split(args.data, split)
        if args.limit:
            files = files[:args.limit]
        if not files:
            print(f"{split}: no clips", file=sys.stderr)
            continue
        r = evaluate_split(model, files, prime, args.smooth, args.cache, gate)
        results[split] = r
        print(f"== {split} ({r['clips']} clips, step {step}, gate {gate or 'none'})")
        for key in ("mae_all", "mae_in", "mae_out", "psnr", "ssim", "coherency"):
            a, b = r["input"][key], r["filtered"][key]
            print(f"  {key:10s} input {a:8.3f}   filtered {b:8.3f}")
        print(f"  mae_in reduction {100 * (r['mae_in_reduction'] or 0):.1f} %  (target >= 60 %)")
        c = r["cnr"]
        if c["clean"] is not None:
            print(f"  CNR in mask ({r['cnr_clips']} clips): clean {c['clean']:.3f} input {c['input']:.3f} "
                  f"filtered {c['filtered']:.3f}")
        print(f"  {r['ms_per_frame']:.1f} ms/frame (PyTorch, whole clip)")
        if args.smooth:
            print(f"  {'smoothing':14s} {'mae_in':>7s} {'reduct.':>7s} {'mae_out':>7s} {'coher.':>7s} "
                  f"{'psnr':>6s} {'ssim':>6s} {'CNR':>6s}")
            for spec in [None] + args.smooth:
                f = r["filtered" if spec is None else f"filtered[{spec}]"]
                red = r["mae_in_reduction"] if spec is None else r["mae_in_reduction_smoothed"][spec]
                cn = c["filtered" if spec is None else f"filtered[{spec}]"]
                print(f"  {spec or 'none':14s} {f['mae_in']:7.3f} {100 * (red or 0):6.1f}% {f['mae_out']:7.3f} "
                      f"{f['coherency']:7.4f} {f['psnr']:6.2f} {f['ssim']:6.4f} "
                      f"{(cn if cn is not None else float('nan')):6.3f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
