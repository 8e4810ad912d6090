"""Adds a level to a trained clutter net without changing what it computes, so that a deeper
(4-level) net can start from the bundled 3-level one instead of from scratch.

In a net of L + 1 levels the old bottom becomes a skip level: a new bottom (two fresh 3^3 convs
after a (1, 2, 2) pool) and a new coarsest decoder stage are inserted, and that stage is set up
to hand the old bottom's output on unchanged: its up-conv is zero (the new bottom's path adds
nothing yet), its gate's psi weights are zero with bias 4 (a constant sigmoid(4), kept
trainable rather than saturated), its first conv passes the gated skip through divided by that
constant (identity on the current frame's centre tap, the causal kernel's last time index), its
second conv is the identity, and their PReLU slopes are 1. Every other tensor moves over as it
is (decoder stage i becomes i + 1). The new bottom and the gate's theta/phi keep PyTorch's
random init; the PReLU slopes of the new bottom start at `--slope`.

    python deepen.py --checkpoint best.pt --out clutter_l4.pt   # then train_gpu.py --init clutter_l4.pt
"""

import argparse
import math
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from model import ClutterNet, count_params  # noqa: E402

GATE_BIAS = 4.0


def deepen(old, slope, seed=0):
    torch.manual_seed(seed)
    n0, levels = old.n0, old.levels
    new = ClutterNet(n0, levels + 1, old.act, slope)
    src = old.state_dict()
    dst = new.state_dict()
    for k, v in src.items():
        parts = k.split(".")
        if parts[0] in ("gates", "ups", "dec"):
            parts[1] = str(int(parts[1]) + 1)
        dst[".".join(parts)] = v.clone()
    # The new coarsest stage (index 0) passes the old bottom's output x through.
    cx = 2 * n0 * 2 ** (levels - 1)
    cg = 2 * n0 * 2 ** levels
    a = 1.0 / (1.0 + math.exp(-GATE_BIAS))
    dst["ups.0.conv.weight"].zero_()
    dst["ups.0.conv.bias"].zero_()
    dst["gates.0.psi.conv.weight"].zero_()
    dst["gates.0.psi.conv.bias"].fill_(GATE_BIAS)
    for name, cin, offset, gain in (("dec.0.0", cg + cx, cg, 1.0 / a), ("dec.0.1", cx, 0, 1.0)):
        w = torch.zeros(cx, cin, 3, 3, 3)
        for o in range(cx):
            w[o, offset + o, 2, 1, 1] = gain
        dst[f"{name}.conv.weight"] = w
        dst[f"{name}.conv.bias"] = torch.zeros(cx)
        if old.act == "prelu":
            dst[f"{name}.act.weight"] = torch.ones(1)
    new.load_state_dict(dst)
    return new


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", required=True, help="train.py / train_gpu.py checkpoint")
    ap.add_argument("--out", required=True)
    ap.add_argument("--slope", type=float, default=0.25, help="initial PReLU slope of the new bottom's convs")
    args = ap.parse_args()
    st = torch.load(args.checkpoint, weights_only=False, map_location="cpu")
    cfg = dict(st.get("config", {}))
    old = ClutterNet(cfg.get("n0", 8), cfg.get("levels", 3), cfg.get("act", "linear"))
    old.load_state_dict(st["model"])
    new = deepen(old.eval(), args.slope).eval()
    # The same function: a random clip whose size the deeper net takes (H, W multiples of 2^L).
    x = torch.rand(1, 1, 6, 64, 48, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        diff = (new(x) - old(x)).abs().max().item()
    print(f"{count_params(old):,} -> {count_params(new):,} parameters, levels {old.levels} -> {new.levels}; "
          f"max |new - old| on a random clip: {diff:.2e}")
    if diff > 1e-5:
        raise SystemExit("the deepened net computes something else")
    cfg["levels"] = new.levels
    torch.save({"model": new.state_dict(), "step": st.get("step", 0), "config": cfg}, args.out)
    print(f"-> {args.out} (step {st.get('step', 0)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
