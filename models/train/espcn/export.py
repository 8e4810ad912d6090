#!/usr/bin/env python3
"""Export ESPCN checkpoints to safetensors (and optionally ONNX).

Tensors (all float32, little-endian, PyTorch OIHW layout):
  conv1.weight [64, 1, 5, 5]    conv1.bias [64]
  conv2.weight [32, 64, 3, 3]   conv2.bias [32]
  conv3.weight [r*r, 32, 3, 3]  conv3.bias [r*r]
Metadata: format "sluice-espcn-v1", scale, activation "tanh" (after conv1 and conv2),
input "full-range BT.601 luma in [0,1]", step and training seconds.

Usage: export.py [--root ROOT] [--out models/weights] [--scales 2,3,4]
  reads ROOT/x{r}/ckpt.pt and writes OUT/espcn_x{r}.safetensors.
(ONNX for the ONNX Runtime comparison is built from the safetensors file by ort_bench.py.)
"""
import argparse
import os
import sys

import torch
from safetensors.torch import load_file, save_file
from safetensors import safe_open

from common import TRAIN_ROOT, Espcn

NAMES = ["conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias", "conv3.weight", "conv3.bias"]


def export_model(model, scale, path, step, train_s):
    sd = model.state_dict()
    tensors = {k: sd[k].detach().to(torch.float32).contiguous().clone() for k in NAMES}
    meta = {
        "format": "sluice-espcn-v1",
        "scale": str(scale),
        "activation": "tanh",
        "input": "full-range BT.601 luma in [0,1]",
        "step": str(step),
        "train_seconds": str(int(train_s)),
    }
    save_file(tensors, path + ".tmp", metadata=meta)
    os.replace(path + ".tmp", path)


def metadata(path):
    with safe_open(path, "pt") as f:
        return f.metadata()


def load_model(path):
    with safe_open(path, "pt") as f:
        scale = int(f.metadata()["scale"])
    model = Espcn(scale)
    model.load_state_dict(load_file(path))
    model.eval()
    return model


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", default=TRAIN_ROOT)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "..", "weights"))
    ap.add_argument("--scales", default="2,3,4")
    args = ap.parse_args()
    for s in [int(x) for x in args.scales.split(",")]:
        c = torch.load(os.path.join(args.root, f"x{s}", "ckpt.pt"), weights_only=False)
        model = Espcn(s)
        model.load_state_dict(c["model"])
        model.eval()
        path = os.path.join(args.out, f"espcn_x{s}.safetensors")
        export_model(model, s, path, c["step"], c["train_s"])
        print(f"x{s}: step {c['step']}, {c['train_s'] / 60:.1f} min -> {os.path.normpath(path)}")


if __name__ == "__main__":
    sys.exit(main())
