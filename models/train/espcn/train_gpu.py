#!/usr/bin/env python3
"""Continues ESPCN training of one scale on a CUDA GPU for a fixed wall time.

Same model, loss (MSE after the L1 phase), patch sampling (probability growing with gradient
energy, the 8 flips/rotations) and per-layer learning rates as train.py, but every HR plane
lives on the device and whole batches are cut there with one gather, so a step costs
microseconds of host time instead of a Python loop over patches. The learning rate warms up
from `--lr-min` to `--lr` and follows a cosine back to `--lr-min` at `--seconds`. The checkpoint
keeps train.py's format, so train.py, evaluate.py and publish.sh take it as it is.

HR planes come from `--data` (fetch_data.py's `hr/*.npy`) or, to travel light to a lent GPU
machine, from 8-bit grey images (`*.png`, `*.webp`; `pack` writes them, rounding to 1/255).

    python train_gpu.py pack --data $R/data --out /tmp/espcn-hr8
    python train_gpu.py train --data /tmp/espcn-hr8 --ckpt $R/x2/ckpt.pt --scale 2 --seconds 400
"""
import argparse
import glob
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import Espcn, downscale, patch_candidates  # noqa: E402


def log(msg):
    print(time.strftime("%H:%M:%S"), msg, flush=True)


def load_planes(root):
    files = sorted(glob.glob(os.path.join(root, "hr", "*.npy")))
    if files:
        return [np.load(f).astype(np.float32) for f in files]
    files = sorted(glob.glob(os.path.join(root, "*.png")) + glob.glob(os.path.join(root, "*.webp")))
    return [np.asarray(Image.open(f).convert("L"), dtype=np.float32) / 255.0 for f in files]


def pack(args):
    os.makedirs(args.out, exist_ok=True)
    for f in sorted(glob.glob(os.path.join(args.data, "hr", "*.npy"))):
        p = np.load(f)
        img = Image.fromarray(np.rint(np.clip(p, 0, 1) * 255).astype(np.uint8), "L")
        img.save(os.path.join(args.out, os.path.basename(f)[:-4] + ".webp"), lossless=True, quality=100, method=6)
    return 0


class DevicePatches:
    """Gradient-weighted random HR patches cut on the device (one gather per batch)."""

    def __init__(self, planes, hr, dev):
        self.hr, self.dev = hr, dev
        stride = hr // 2
        cands, p = patch_candidates(planes, hr)
        offs = np.cumsum([0] + [q.size for q in planes[:-1]])
        widths = [q.shape[1] for q in planes]
        self.p = torch.tensor(p, dtype=torch.float32, device=dev)
        self.cands = torch.tensor(cands, dtype=torch.long, device=dev)
        self.heights = torch.tensor([p.shape[0] for p in planes], dtype=torch.long, device=dev)
        self.widths = torch.tensor(widths, dtype=torch.long, device=dev)
        self.offs = torch.tensor(offs, dtype=torch.long, device=dev)
        self.flat = torch.cat([torch.from_numpy(p.ravel()) for p in planes]).to(dev)
        self.stride = stride
        self.ar = torch.arange(hr, device=dev)

    def batch(self, n, gen):
        idx = torch.multinomial(self.p, n, replacement=True, generator=gen)
        i, y, x = self.cands[idx].unbind(1)
        jy = torch.randint(self.stride, (n,), device=self.dev, generator=gen)
        jx = torch.randint(self.stride, (n,), device=self.dev, generator=gen)
        y = torch.minimum(y + jy, self.heights[i] - self.hr)
        x = torch.minimum(x + jx, self.widths[i] - self.hr)
        w = self.widths[i]
        at = (self.offs[i][:, None, None] + (y[:, None, None] + self.ar[None, :, None]) * w[:, None, None]
              + x[:, None, None] + self.ar[None, None, :])
        t = self.flat[at]  # (n, hr, hr)
        # The 8 dihedral transforms, one per eighth of the batch.
        parts = []
        for d, chunk in enumerate(t.chunk(8)):
            c = torch.rot90(chunk, d % 4, dims=(1, 2))
            parts.append(c.flip(2) if d >= 4 else c)
        return torch.cat(parts)[:, None]


def to_cpu(obj):
    """A state dict with every tensor on the CPU (checkpoints must load on machines without CUDA)."""
    if torch.is_tensor(obj):
        return obj.cpu()
    if isinstance(obj, dict):
        return {k: to_cpu(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(to_cpu(v) for v in obj)
    return obj


def train(args):
    dev = torch.device(args.device)
    torch.backends.cudnn.benchmark = True
    c = torch.load(args.ckpt, weights_only=False, map_location="cpu")
    scale = c["scale"]
    model = Espcn(scale)
    model.load_state_dict(c["model"])
    model.to(dev).to(memory_format=torch.channels_last)
    last = list(model.conv3.parameters())
    rest = list(model.conv1.parameters()) + list(model.conv2.parameters())
    opt = torch.optim.Adam([{"params": rest, "lr_mult": 1.0}, {"params": last, "lr_mult": 0.1}], lr=args.lr)
    opt.load_state_dict(c["opt"])
    hp = dict(c["hp"])
    hp.update(gpu_batch=args.batch, gpu_lr=args.lr, gpu_lr_min=args.lr_min)
    step0, step, train_s = c["step"], c["step"], c["train_s"]
    planes = load_planes(args.data)
    patches = DevicePatches(planes, hp["patch"] * scale, dev)
    gen = torch.Generator(device=dev)
    gen.manual_seed(args.seed)
    log(f"x{scale}: from step {step} on {dev}, {len(planes)} planes, {sum(p.size for p in planes) / 1e6:.1f} Mpx, "
        f"{len(patches.cands)} candidates, batch {args.batch}, lr {args.lr_min:.0e}->{args.lr:.0e}->{args.lr_min:.0e}")
    t0 = time.time()
    acc, n = 0.0, 0
    while (el := time.time() - t0) < args.seconds:
        frac = el / args.seconds
        warm = min(1.0, el / args.warmup)
        lr = args.lr_min + (args.lr - args.lr_min) * 0.5 * (1 + math.cos(math.pi * frac))
        lr = warm * lr + (1 - warm) * args.lr_min
        for g in opt.param_groups:
            g["lr"] = lr * g["lr_mult"]
        hr = patches.batch(args.batch, gen)
        with torch.no_grad():
            lr_img = downscale(hr, scale).contiguous(memory_format=torch.channels_last)
        loss = F.mse_loss(model(lr_img), hr)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        acc += loss.item() if step % 50 == 0 else 0.0
        n += step % 50 == 0
        if step % 2000 == 0:
            log(f"x{scale} step {step} loss {acc / max(n, 1):.6f} lr {lr:.2e} ({(step - step0) / el:.0f} steps/s)")
            acc, n = 0.0, 0
    train_s += time.time() - t0
    out = {"model": to_cpu(model.state_dict()), "opt": to_cpu(opt.state_dict()),
           "np_rng": c["np_rng"], "torch_rng": c["torch_rng"], "step": step, "train_s": train_s, "hp": hp,
           "scale": scale}
    torch.save(out, args.out + ".tmp")
    os.replace(args.out + ".tmp", args.out)
    log(f"x{scale}: steps {step0} -> {step} in {time.time() - t0:.0f} s; saved {args.out}")
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("pack", help="write fetch_data.py's planes as lossless 8-bit WebP")
    p.add_argument("--data", required=True)
    p.add_argument("--out", required=True)
    t = sub.add_parser("train")
    t.add_argument("--data", required=True)
    t.add_argument("--ckpt", required=True, help="train.py checkpoint to continue")
    t.add_argument("--out", required=True, help="where the continued checkpoint goes")
    t.add_argument("--seconds", type=float, default=400)
    t.add_argument("--warmup", type=float, default=15)
    t.add_argument("--batch", type=int, default=256)
    t.add_argument("--lr", type=float, default=3e-4)
    t.add_argument("--lr-min", type=float, default=1e-6)
    t.add_argument("--device", default="cuda")
    t.add_argument("--seed", type=int, default=11)
    args = ap.parse_args()
    return pack(args) if args.cmd == "pack" else train(args)


if __name__ == "__main__":
    sys.exit(main())
