#!/usr/bin/env python3
"""Train ESPCN (one network per scale) on the HR luma planes made by fetch_data.py.

One process trains several scales in turn, in time slices; after every slice it saves a
resumable checkpoint (model, optimiser, RNG states, step, training seconds), evaluates on the
held-out images and exports safetensors, so current weights always exist.

Recipe: LR = anti-aliased bicubic downscale of HR patches (LR patch `--patch` px), patches drawn
with probability growing with their gradient energy (wallpapers have large flat areas), the 8
flips/rotations, Adam with the last layer 10x slower, L1 loss for the first `--l1-steps` steps then
MSE, learning rate decaying exponentially from `--lr` by 10x every `--decay-steps` (floor 1/100).

Example (the command of PROVENANCE.md):
  nohup nice -n 10 python train.py --scales 3,2,4 --slice-min 8 >> $ROOT/train.log 2>&1 &
"""
import os

# Spinning OpenMP workers waste the shared cores; sleep instead (must precede importing torch).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import glob
import json
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

from common import TRAIN_ROOT, Espcn, downscale, patch_candidates
import evaluate
import export


def log(msg):
    print(time.strftime("%H:%M:%S"), msg, flush=True)


class Patches:
    """Random HR patches, sampled by gradient energy, with the 8 dihedral transforms."""

    def __init__(self, planes, hr_size, rng):
        self.planes = planes
        self.hr = hr_size
        self.rng = rng
        self.cands, self.p = patch_candidates(planes, hr_size)
        self.stride = hr_size // 2

    def batch(self, n):
        idx = self.rng.choice(len(self.cands), size=n, p=self.p)
        out = np.empty((n, 1, self.hr, self.hr), np.float32)
        for k, (i, y, x) in enumerate(self.cands[idx]):
            p = self.planes[i]
            y = min(y + self.rng.integers(0, self.stride), p.shape[0] - self.hr)
            x = min(x + self.rng.integers(0, self.stride), p.shape[1] - self.hr)
            t = p[y : y + self.hr, x : x + self.hr]
            d = self.rng.integers(0, 8)
            t = np.rot90(t, d % 4)
            if d >= 4:
                t = t[:, ::-1]
            out[k, 0] = t
        return torch.from_numpy(out)


class Trainer:
    """One scale: model, optimiser, sampler and the checkpoint they live in."""

    def __init__(self, scale, planes, args):
        self.scale = scale
        self.dir = os.path.join(args.root, f"x{scale}")
        os.makedirs(self.dir, exist_ok=True)
        self.ckpt = os.path.join(self.dir, "ckpt.pt")
        torch.manual_seed(args.seed * 100 + scale)
        self.model = Espcn(scale).to(memory_format=torch.channels_last)
        last = list(self.model.conv3.parameters())
        rest = list(self.model.conv1.parameters()) + list(self.model.conv2.parameters())
        self.opt = torch.optim.Adam([{"params": rest, "lr_mult": 1.0}, {"params": last, "lr_mult": 0.1}], lr=args.lr)
        self.rng = np.random.default_rng(args.seed * 100 + scale)
        self.step = 0
        self.train_s = 0.0
        self.hp = {k: getattr(args, k) for k in ("lr", "decay_steps", "l1_steps", "batch", "patch", "seed")}
        if os.path.exists(self.ckpt):
            c = torch.load(self.ckpt, weights_only=False)
            self.model.load_state_dict(c["model"])
            self.opt.load_state_dict(c["opt"])
            self.rng.bit_generator.state = c["np_rng"]
            torch.set_rng_state(c["torch_rng"])
            self.step, self.train_s = c["step"], c["train_s"]
            self.hp = c["hp"]
            for k in args.override:
                self.hp[k] = getattr(args, k)
            log(f"x{scale}: resumed at step {self.step} ({self.train_s / 60:.1f} min trained), hp {self.hp}")
        self.torch_rng = torch.get_rng_state()
        self.patches = Patches(planes, self.hp["patch"] * scale, self.rng)

    def lr_now(self):
        return self.hp["lr"] * max(0.01, 0.1 ** (self.step / self.hp["decay_steps"]))

    def run(self, seconds):
        torch.set_rng_state(self.torch_rng)
        self.model.train()
        t0 = t_log = time.time()
        n, acc = 0, 0.0
        while time.time() - t0 < seconds:
            for g in self.opt.param_groups:
                g["lr"] = self.lr_now() * g["lr_mult"]
            hr = self.patches.batch(self.hp["batch"])
            with torch.no_grad():
                lr = downscale(hr, self.scale).contiguous(memory_format=torch.channels_last)
            sr = self.model(lr)
            loss = F.l1_loss(sr, hr) if self.step < self.hp["l1_steps"] else F.mse_loss(sr, hr)
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            self.opt.step()
            self.step += 1
            n += 1
            acc += loss.item()
            if self.step % 500 == 0:
                rate = n / (time.time() - t_log)
                log(f"x{self.scale} step {self.step} loss {acc / n:.6f} lr {self.lr_now():.2e} {rate:.1f} steps/s")
                n, acc, t_log = 0, 0.0, time.time()
        self.train_s += time.time() - t0
        self.torch_rng = torch.get_rng_state()
        self.save()

    def save(self):
        c = {
            "model": self.model.state_dict(),
            "opt": self.opt.state_dict(),
            "np_rng": self.rng.bit_generator.state,
            "torch_rng": self.torch_rng,
            "step": self.step,
            "train_s": self.train_s,
            "hp": self.hp,
            "scale": self.scale,
        }
        torch.save(c, self.ckpt + ".tmp")
        os.replace(self.ckpt + ".tmp", self.ckpt)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", default=TRAIN_ROOT, help="checkpoints, logs, evaluations, exports")
    ap.add_argument("--data", default=os.path.join(TRAIN_ROOT, "data"))
    ap.add_argument("--scales", default="3,2,4")
    ap.add_argument("--slice-min", type=float, default=8.0, help="minutes of training per scale per turn")
    ap.add_argument("--weights", default="1,1,1", help="relative slice length per scale (same order)")
    ap.add_argument("--hours", type=float, default=1e9, help="stop after this many wall-clock hours")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--decay-steps", type=int, default=10000)
    ap.add_argument("--l1-steps", type=int, default=2000)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--patch", type=int, default=32, help="LR patch side")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--override", default="", help="comma list of hyper-parameters to take from the command line on resume")
    args = ap.parse_args()
    args.override = [k for k in args.override.split(",") if k]
    torch.set_num_threads(args.threads)
    scales = [int(s) for s in args.scales.split(",")]
    weights = [float(w) for w in args.weights.split(",")]
    planes = [np.load(f) for f in sorted(glob.glob(os.path.join(args.data, "hr", "*.npy")))]
    log(f"{len(planes)} HR planes, {sum(p.size for p in planes) / 1e6:.1f} Mpx; scales {scales}")
    trainers = {s: Trainer(s, planes, args) for s in scales}
    deadline = time.time() + args.hours * 3600
    exp_dir = os.path.join(args.root, "export")
    os.makedirs(exp_dir, exist_ok=True)
    while time.time() < deadline:
        for s, w in zip(scales, weights):
            t = trainers[s]
            t.run(min(args.slice_min * 60 * w, max(0.0, deadline - time.time())))
            res = evaluate.evaluate(t.model, s)
            res.update(step=t.step, train_min=round(t.train_s / 60, 1))
            with open(os.path.join(t.dir, "eval.jsonl"), "a") as f:
                f.write(json.dumps(res) + "\n")
            export.export_model(t.model, s, os.path.join(exp_dir, f"espcn_x{s}.safetensors"), t.step, t.train_s)
            log(f"x{s} step {t.step} ({t.train_s / 60:.1f} min): PSNR {res['mean_sr']:.3f} dB, "
                f"bicubic {res['mean_bicubic']:.3f} dB, gain {res['mean_gain']:+.3f} dB; exported")
            if time.time() >= deadline:
                break


if __name__ == "__main__":
    sys.exit(main())
