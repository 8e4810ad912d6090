"""Trains the clutter filter on a CUDA GPU, on whole simulated clips, for a fixed wall time.

The CPU recipe (train.py) sees two 64x64 crops per step; on a GPU the same net takes whole
128x128x32 clips in batches, so this driver keeps every training clip on the device as uint8 and
samples batches there (random cyclic temporal shift, lateral flip). It differs from train.py in
what it optimises, because the CPU run missed the issue's targets:

  loss = MSE(clip) + mask_weight * MSE(inside the clutter mask)
         + coh_weight * mean_f |E_f - E_{f+1}|,  E_f = mean |y_f - clean_f| over frame f

(the mask term weighs the few clutter pixels the metric is about; the last term is the
evaluation's temporal coherency score, differentiable as written), and clips are *primed*:
`--prime` copies of the first frame go in front of each clip and their outputs are dropped, as
the Rust model does when a stream starts (model.primed).

Training clips are simulated while training runs (`gen` below, by `sluice simulate-echo` on
the machine's cores, seeds from the train ranges of data.py only); the trainer adds new clips
to its device pool as they appear. Checkpoints have train.py's format plus `prime` in the config,
so evaluate.py and export.py take them as they are.

    python train_gpu.py gen --sim target/release/sluice --out $W/gpu-data --per-motion 500 --procs 12 &
    python train_gpu.py train --data $W/gpu-data --work $W/run --init $W/checkpoint.pt --seconds 420
"""

import argparse
import copy
import math
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from data import TRAIN_MOTIONS, load_raw  # noqa: E402
from model import ClutterNet, count_params, primed  # noqa: E402
from train import log  # noqa: E402


def gen(args):
    """Simulates train clips in parallel into `args.out` as uncompressed uint8 .npy triples."""
    os.makedirs(args.out, exist_ok=True)
    jobs = []
    for m, motion in enumerate(TRAIN_MOTIONS):
        for first in range(0, args.per_motion, args.chunk):
            jobs.append((motion, m * 100_000 + args.start + first, min(args.chunk, args.per_motion - first)))
    # Interleave the motions so an early stop still has all three.
    jobs.sort(key=lambda j: (j[1] % 100_000, j[0]))
    t0 = time.time()

    def one(job):
        motion, seed, n = job
        with tempfile.TemporaryDirectory(dir=args.out) as tmp:
            subprocess.run([args.sim, "simulate-echo", "--out", tmp, "--seed", str(seed), "--clips", str(n),
                            "--frames", str(args.frames), "--size", str(args.size), "--clutter", "mixed",
                            "--motion", motion, "--format", "raw"], check=True, stdout=subprocess.DEVNULL)
            for s in range(seed, seed + n):
                data, _ = load_raw(os.path.join(tmp, f"clip_{s:06d}"))
                a = np.stack([np.rint(data[0] * 255.0), np.rint(data[1] * 255.0), data[2] > 0.5]).astype(np.uint8)
                part = os.path.join(args.out, f"clip_{s:06d}.part.npy")
                np.save(part, a)
                os.replace(part, os.path.join(args.out, f"clip_{s:06d}.npy"))
        return n

    done = 0
    with ThreadPoolExecutor(args.procs) as pool:
        for n in pool.map(one, jobs):
            done += n
            if done % (args.chunk * args.procs) < args.chunk:
                print(f"{done} clips in {time.time() - t0:.0f} s", flush=True)
    print(f"finished: {done} clips in {time.time() - t0:.0f} s", flush=True)
    return 0


class Pool:
    """All clips found so far, on the device: (N, 3, T, H, W) uint8 = cluttered, clean, mask."""

    def __init__(self, root, device):
        self.root, self.device, self.seen, self.parts = root, device, set(), []
        self.data = None

    def refresh(self):
        new = sorted(f for f in os.listdir(self.root) if f.endswith(".npy") and ".part" not in f
                     and f not in self.seen)
        if not new:
            return 0
        arrays = [torch.from_numpy(np.load(os.path.join(self.root, f))) for f in new]
        self.seen.update(new)
        self.parts.append(torch.stack(arrays).to(self.device))
        self.data = torch.cat(self.parts) if len(self.parts) > 1 else self.parts[0]
        self.parts = [self.data]
        return len(new)

    def __len__(self):
        return 0 if self.data is None else self.data.shape[0]

    def batch(self, n, gen):
        idx = torch.randint(len(self), (n,), device=self.device, generator=gen)
        b = self.data[idx].float()  # (n, 3, T, H, W)
        t = b.shape[2]
        shifts = torch.randint(t, (n,), device=self.device, generator=gen)
        ar = torch.arange(t, device=self.device)
        order = (ar[None, :] - shifts[:, None]) % t  # cyclic roll per clip
        b = torch.gather(b, 2, order[:, None, :, None, None].expand_as(b))
        flip = torch.rand(n, device=self.device, generator=gen) < 0.5
        b = torch.where(flip[:, None, None, None, None], b.flip(-1), b)
        x, clean, mask = b[:, :1] / 255.0, b[:, 1:2] / 255.0, b[:, 2:3]
        return x, clean, mask


class Validation:
    """Held-aside clips (train motions, seeds the trainer never sees: `gen --start`), scored as
    evaluate.py scores the test splits (8-bit output; MAE inside / outside the mask, coherency),
    so that the run keeps the checkpoint that generalises best rather than its last one."""

    def __init__(self, root, device, prime):
        files = sorted(f for f in os.listdir(root) if f.endswith(".npy") and ".part" not in f)
        self.data = torch.stack([torch.from_numpy(np.load(os.path.join(root, f))) for f in files]).to(device)
        self.prime = prime
        self.input = self.score_of(self.data[:, 0:1].float() / 255.0)

    def score_of(self, y):
        clean, mask = self.data[:, 1:2].float() / 255.0, self.data[:, 2:3].float()
        d = (torch.round(y.clamp(0, 1) * 255.0) - clean * 255.0).abs()
        inside = (d * mask).sum(dim=(1, 2, 3, 4)) / mask.sum(dim=(1, 2, 3, 4)).clamp(min=1)
        outside = (d * (1 - mask)).sum(dim=(1, 2, 3, 4)) / (1 - mask).sum(dim=(1, 2, 3, 4)).clamp(min=1)
        e_f = d.mean(dim=(1, 3, 4))
        coh = (e_f[:, 1:] - e_f[:, :-1]).abs().mean(dim=1)
        return {"mae_in": inside.mean().item(), "leak": outside.mean().item(), "coh": coh.mean().item()}

    def __call__(self, model, batch=8):
        model.eval()
        with torch.no_grad():
            ys = [primed(model, self.data[i:i + batch, 0:1].float() / 255.0, self.prime)
                  for i in range(0, len(self.data), batch)]
        model.train()
        r = self.score_of(torch.cat(ys))
        r["reduction"] = 1.0 - r["mae_in"] / self.input["mae_in"]
        # Lower is better: the clutter error, with leakage over 0.9 grey levels (the cap is 1.0)
        # counted heavily against it.
        r["score"] = r["mae_in"] + 4.0 * max(0.0, r["leak"] - 0.9)
        return r


def losses(y, clean, mask, args):
    err = y - clean
    mse = err.square().mean()
    m = mask.sum()
    mse_in = (err.square() * mask).sum() / m.clamp(min=1.0)
    e_f = err.abs().mean(dim=(1, 3, 4))  # (n, T)
    coh = (e_f[:, 1:] - e_f[:, :-1]).abs().mean()
    total = mse + args.mask_weight * mse_in + args.coh_weight * coh
    return total, mse, mse_in, coh


def save(path, model, opt, step, args, seconds):
    state = {
        "model": model.state_dict(),
        "optimizer": opt.state_dict(),
        "step": step,
        "config": {"n0": model.n0, "levels": model.levels, "act": model.act, "crop": 0, "lr": args.lr,
                   "prime": args.prime, "batch": args.batch, "mask_weight": args.mask_weight,
                   "coh_weight": args.coh_weight, "gpu_seconds": seconds},
    }
    torch.save(state, path + ".tmp")
    os.replace(path + ".tmp", path)


def validate(val, model, opt, step, args, seconds, best, best_path, logf):
    """Scores the model on the validation clips, keeps it as best.pt when it beats `best`."""
    r = val(model)
    slopes = [m.act.weight.item() for m in model.modules() if isinstance(getattr(m, "act", None), torch.nn.PReLU)]
    mark = ""
    if best is None or r["score"] < best:
        best, mark = r["score"], " (best)"
        save(best_path, model, opt, step, args, seconds)
    log(logf, f"val step {step}: mae_in {r['mae_in']:.3f} ({100 * r['reduction']:.1f} %) leak {r['leak']:.3f} "
              f"coh {r['coh']:.4f}{mark}" + (f" slopes {' '.join(f'{v:.2f}' for v in slopes)}" if slopes else ""))
    return best


def train(args):
    dev = torch.device(args.device)
    torch.backends.cudnn.benchmark = True
    # Full f32: the net is linear end to end, and TF32's 10-bit products were not worth the risk.
    torch.backends.cuda.matmul.allow_tf32 = args.tf32
    torch.backends.cudnn.allow_tf32 = args.tf32
    os.makedirs(args.work, exist_ok=True)
    logf = os.path.join(args.work, "train_gpu.log")
    torch.manual_seed(args.seed)
    gen_rng = torch.Generator(device=dev)
    gen_rng.manual_seed(args.seed)
    model = ClutterNet(args.n0, args.levels, args.act, args.slope)
    opt_state, step = None, 0
    if args.init:
        st = torch.load(args.init, weights_only=False, map_location="cpu")
        cfg = st.get("config", {})
        model = ClutterNet(cfg.get("n0", 8), cfg.get("levels", 3), args.act, args.slope)
        # A linear checkpoint into a PReLU net: the slopes are new (at --slope; 1.0 keeps the
        # function), everything else must match.
        missing, unexpected = model.load_state_dict(st["model"], strict=False)
        if unexpected or any(not k.endswith(".act.weight") for k in missing):
            raise SystemExit(f"--init does not fit: missing {missing}, unexpected {unexpected}")
        opt_state, step = st.get("optimizer"), st.get("step", 0)
        if missing:
            opt_state = None
    model.to(dev)
    if dev.type == "cuda":
        model.to(memory_format=torch.channels_last_3d)
    amp = torch.autocast(dev.type, dtype=torch.bfloat16, enabled=args.amp == "bf16")
    # The PReLU slopes are ten scalars that start at the linear net's 1.0: a larger step lets them
    # move within a short run.
    slopes = [p for n, p in model.named_parameters() if n.endswith(".act.weight")]
    rest = [p for n, p in model.named_parameters() if not n.endswith(".act.weight")]
    groups = [{"params": rest, "mult": 1.0}] + ([{"params": slopes, "mult": args.slope_lr_mult}] if slopes else [])
    opt = torch.optim.Adam(groups, lr=args.lr)
    if opt_state is not None and args.keep_opt:
        opt.load_state_dict(opt_state)
    log(logf, f"start at step {step}: {count_params(model):,} parameters (n0 {model.n0}, levels {model.levels}), "
              f"{vars(args)} on {torch.cuda.get_device_name(dev) if dev.type == 'cuda' else dev}")
    pool = Pool(args.data, dev)
    while pool.refresh() == 0 or len(pool) < args.min_clips:
        time.sleep(2)
    log(logf, f"{len(pool)} clips on the device")
    # bf16 autocast and channels-last 3-D convs are untested on some cuDNN builds: probe one
    # step, and fall back to plain f32 rather than lose the run.
    try:
        x, clean, mask = pool.batch(args.batch, gen_rng)
        with amp:
            y = primed(model, x, args.prime)
        losses(y.float(), clean, mask, args)[0].backward()
        model.zero_grad(set_to_none=True)
    except RuntimeError as e:
        log(logf, f"probe step failed ({e}); falling back to f32, contiguous")
        model.to(memory_format=torch.contiguous_format)
        amp = torch.autocast(dev.type, dtype=torch.bfloat16, enabled=False)
    ckpt = args.last or os.path.join(args.work, "checkpoint.pt")
    best_path, best, last_eval = os.path.join(args.work, "best.pt"), None, time.time()
    val = Validation(args.val, dev, args.prime) if args.val else None
    if val:
        log(logf, f"validation ({len(val.data)} clips): input mae_in {val.input['mae_in']:.3f} leak "
                  f"{val.input['leak']:.3f} coh {val.input['coh']:.4f}")
        best = validate(val, model, opt, step, args, 0.0, None, best_path, logf)
    val_step = step
    t0 = time.time()
    last_refresh = last_save = t0
    acc = np.zeros(4)
    n_acc = 0
    # Divergence guard: a deep linear net under Adam can blow up in a few steps. Keep a snapshot
    # of the last healthy state; on a loss far above its running mean, go back to it at half the
    # learning rate.
    ema, lr_scale, snap = None, 1.0, None
    while True:
        el = time.time() - t0
        if el >= args.seconds:
            break
        frac = el / args.seconds
        warm = min(1.0, el / max(args.warmup, 1e-9))
        lr = args.lr_min + (args.lr - args.lr_min) * 0.5 * (1 + math.cos(math.pi * frac))
        for g in opt.param_groups:
            g["lr"] = g.get("mult", 1.0) * lr_scale * (lr * warm + args.lr_min * (1 - warm))
        if time.time() - last_refresh > 15:
            added = pool.refresh()
            last_refresh = time.time()
            if added:
                log(logf, f"+{added} clips -> {len(pool)}")
        x, clean, mask = pool.batch(args.batch, gen_rng)
        with amp:
            y = primed(model, x, args.prime)
        total, mse, mse_in, coh = losses(y.float(), clean, mask, args)
        v = total.item()
        if ema is not None and (not math.isfinite(v) or v > args.blowup * ema) and snap is not None:
            model.load_state_dict(snap[0])
            opt.load_state_dict(snap[1])
            lr_scale *= 0.5
            log(logf, f"step {step}: loss {v:.4g} vs mean {ema:.4g}; back to step {snap[2]}, lr x{lr_scale:g}")
            step = snap[2]
            continue
        ema = v if ema is None else 0.98 * ema + 0.02 * v
        if step % 50 == 0:
            snap = (copy.deepcopy(model.state_dict()), copy.deepcopy(opt.state_dict()), step)
        opt.zero_grad(set_to_none=True)
        total.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip)
        opt.step()
        step += 1
        acc += np.array([v, mse.item(), mse_in.item(), coh.item()])
        n_acc += 1
        if step % 100 == 0:
            a = acc / n_acc
            log(logf, f"step {step} loss {a[0]:.6f} mse {a[1]:.6f} mse_in {a[2]:.6f} coh {a[3] * 255:.4f} "
                      f"lr {opt.param_groups[0]['lr']:.2e} ({el:.0f} s)")
            acc[:] = 0
            n_acc = 0
        if time.time() - last_save > 60:
            save(ckpt, model, opt, step, args, time.time() - t0)
            last_save = time.time()
        if val and time.time() - last_eval > args.eval_every:
            best = validate(val, model, opt, step, args, time.time() - t0, best, best_path, logf)
            last_eval, val_step = time.time(), step
    save(ckpt, model, opt, step, args, time.time() - t0)
    if val and step != val_step:
        validate(val, model, opt, step, args, time.time() - t0, best, best_path, logf)
    log(logf, f"done at step {step} after {time.time() - t0:.0f} s, {len(pool)} clips")
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("gen", help="simulate training clips")
    g.add_argument("--sim", required=True, help="the sluice binary")
    g.add_argument("--out", required=True)
    g.add_argument("--per-motion", type=int, default=400)
    g.add_argument("--start", type=int, default=0, help="first seed offset within each motion's range")
    g.add_argument("--chunk", type=int, default=8)
    g.add_argument("--procs", type=int, default=os.cpu_count() or 2)
    g.add_argument("--frames", type=int, default=32)
    g.add_argument("--size", type=int, default=128)
    t = sub.add_parser("train", help="train on the clips in --data")
    t.add_argument("--data", required=True)
    t.add_argument("--work", required=True)
    t.add_argument("--init", help="checkpoint to start from (train.py or train_gpu.py format)")
    t.add_argument("--n0", type=int, default=8)
    t.add_argument("--levels", type=int, default=3)
    t.add_argument("--act", choices=("linear", "prelu"), default="linear")
    t.add_argument("--slope", type=float, default=1.0, help="initial PReLU slope (1.0 = linear)")
    t.add_argument("--slope-lr-mult", type=float, default=10.0, help="learning rate factor of the slopes")
    t.add_argument("--amp", choices=("none", "bf16"), default="none", help="autocast the forward pass")
    t.add_argument("--tf32", action="store_true", help="allow TF32 products in f32 convs")
    t.add_argument("--last", help="where the latest checkpoint goes (default: WORK/checkpoint.pt)")
    t.add_argument("--val", help="validation clips (gen --start beyond the training seeds)")
    t.add_argument("--eval-every", type=float, default=45, help="seconds between validations")
    t.add_argument("--seconds", type=float, default=420)
    t.add_argument("--warmup", type=float, default=30, help="seconds of linear warm-up from --lr-min")
    t.add_argument("--lr", type=float, default=1e-4)
    t.add_argument("--keep-opt", action="store_true", help="also restore the optimiser state of --init")
    t.add_argument("--clip", type=float, default=1.0, help="gradient norm clip")
    t.add_argument("--blowup", type=float, default=10.0, help="loss / running mean that triggers a roll-back")
    t.add_argument("--lr-min", type=float, default=1e-5)
    t.add_argument("--batch", type=int, default=8)
    t.add_argument("--prime", type=int, default=8)
    t.add_argument("--mask-weight", type=float, default=4.0)
    t.add_argument("--coh-weight", type=float, default=5.0)
    t.add_argument("--min-clips", type=int, default=48)
    t.add_argument("--device", default="cuda")
    t.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    return gen(args) if args.cmd == "gen" else train(args)


if __name__ == "__main__":
    sys.exit(main())
