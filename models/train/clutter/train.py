"""Trains the clutter filter on simulated clips (see data.py), resumably.

MSE loss, Adam, batch of random 64x64 crops of full 32-frame clips from the train split, with a
random cyclic temporal shift (one clip = one cardiac cycle, so rolling it is another valid clip)
and lateral flips. Half the crops are centred on clutter (masks are small), half anywhere in the
frame. Everything needed to continue is in the checkpoint (model, optimiser, step, RNG states);
rerunning the same command resumes from it.

    nohup nice -n 10 python train.py --data /var/cache/sluice/train/clutter/data \
        --work /var/cache/sluice/train/clutter > /dev/null 2>&1 &
"""

import argparse
import os
import random
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from data import list_split  # noqa: E402
from model import ClutterNet, count_params  # noqa: E402


def log(path, msg):
    line = f"{time.strftime('%Y-%m-%d %H:%M:%S')} {msg}"
    print(line, flush=True)
    with open(path, "a") as f:
        f.write(line + "\n")


def load_uint8(path):
    z = np.load(path)
    return z["cluttered"], z["clean"], z["mask"]


def sample_crop(files, crop, rng):
    """One (cluttered, clean) training pair as float tensors (1, 1, T, crop, crop)."""
    cl, cn, mask = load_uint8(files[rng.integers(len(files))])
    t, h, w = cl.shape
    if rng.random() < 0.5 and mask.any():
        ts, ys, xs = np.nonzero(mask)
        k = rng.integers(len(ys))
        y0 = int(np.clip(ys[k] - crop // 2 + rng.integers(-crop // 4, crop // 4 + 1), 0, h - crop))
        x0 = int(np.clip(xs[k] - crop // 2 + rng.integers(-crop // 4, crop // 4 + 1), 0, w - crop))
    else:
        y0, x0 = int(rng.integers(h - crop + 1)), int(rng.integers(w - crop + 1))
    shift = int(rng.integers(t))
    flip = rng.random() < 0.5
    out = []
    for a in (cl, cn):
        a = np.roll(a[:, y0:y0 + crop, x0:x0 + crop], shift, axis=0)
        if flip:
            a = a[:, :, ::-1]
        out.append(torch.from_numpy(np.ascontiguousarray(a)).float().div_(255.0)[None, None])
    return out


def save_checkpoint(path, model, opt, step, rng, args):
    state = {
        "model": model.state_dict(),
        "optimizer": opt.state_dict(),
        "step": step,
        "numpy_rng": rng.bit_generator.state,
        "torch_rng": torch.get_rng_state(),
        "python_rng": random.getstate(),
        "config": {"n0": args.n0, "levels": args.levels, "crop": args.crop, "lr": args.lr},
    }
    tmp = path + ".tmp"
    torch.save(state, tmp)
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True)
    ap.add_argument("--work", required=True, help="checkpoints and train.log go here")
    ap.add_argument("--steps", type=int, default=100_000)
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--crop", type=int, default=64)
    ap.add_argument("--n0", type=int, default=8)
    ap.add_argument("--levels", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--save-every", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    os.makedirs(args.work, exist_ok=True)
    ckpt = os.path.join(args.work, "checkpoint.pt")
    logf = os.path.join(args.work, "train.log")

    model = ClutterNet(args.n0, args.levels)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    rng = np.random.default_rng(args.seed)
    random.seed(args.seed)
    torch.manual_seed(args.seed)
    step = 0
    if os.path.exists(ckpt):
        state = torch.load(ckpt, weights_only=False)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        step = state["step"]
        rng.bit_generator.state = state["numpy_rng"]
        torch.set_rng_state(state["torch_rng"])
        random.setstate(state["python_rng"])
        log(logf, f"resumed at step {step}")
    else:
        log(logf, f"new run: {count_params(model):,} parameters, {vars(args)}")

    files, listed_at = [], -1
    t0, running = time.time(), 0.0
    while step < args.steps:
        if step // 100 != listed_at or not files:
            files, listed_at = list_split(args.data, "train"), step // 100
        if not files:
            time.sleep(30)
            continue
        pairs = [sample_crop(files, args.crop, rng) for _ in range(args.batch)]
        x = torch.cat([p[0] for p in pairs])
        y = torch.cat([p[1] for p in pairs])
        loss = F.mse_loss(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        step += 1
        running += loss.item()
        if step % 20 == 0:
            dt = (time.time() - t0) / 20
            log(logf, f"step {step} loss {running / 20:.6f} ({len(files)} clips, {dt:.2f} s/step)")
            t0, running = time.time(), 0.0
        if step % args.save_every == 0:
            save_checkpoint(ckpt, model, opt, step, rng, args)
            if step % (args.save_every * 10) == 0:
                save_checkpoint(os.path.join(args.work, f"checkpoint_{step:06d}.pt"), model, opt, step, rng, args)
    save_checkpoint(ckpt, model, opt, step, rng, args)
    log(logf, f"finished at step {step}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
