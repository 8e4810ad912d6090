"""Exports a clutter-filter checkpoint to safetensors for the Rust model (sluice-models).

Tensor names (PyTorch Conv3d layout: weight [C_out, C_in, kT, kH, kW], bias [C_out]; axis order
of the data is (T, H, W); temporal padding causal, spatial padding TF 'same' — see model.py):
  enc.{l}.{0,1}.{weight,bias}         encoder level l convs (3^3); the last level is the bottom
  gate.{i}.theta.{weight,bias}        decoder i's gate: 3^3 stride (1,2,2) on the skip
  gate.{i}.phi.{weight,bias}          1^3 on the gating tensor
  gate.{i}.psi.{weight,bias}          1^3 -> 1 channel, then sigmoid
  up.{i}.{weight,bias}                2^3 conv after nearest upsampling (1,2,2)
  dec.{i}.{0,1}.{weight,bias}         decoder convs (3^3); input = concat [up, gated skip]
  head.{weight,bias}                  1^3 -> 1 channel; output = input + head
  enc.{l}.{0,1}.slope, dec.{i}.{0,1}.slope   [1]: PReLU slope after that conv (activation=prelu
                                      only): y = x for x >= 0, slope * x below
Decoder i = 0 is the coarsest (it gates skip level levels-2). Metadata: n0, levels, step,
prime (copies of the first frame a stream is primed with; model.primed), temporal_padding=causal,
spatial_padding=tf_same, activation=linear or prelu, and with a correction gate
(model.gate_correction; `--gate ALPHA,BOX,LEVEL`, kept in the checkpoint's config as `gate`)
gate_alpha, gate_box, gate_level.

    python export.py --checkpoint /var/cache/sluice/train/clutter/checkpoint.pt --out clutter.safetensors

The other way, an export back to a checkpoint that `train_gpu.py --init`, `deepen.py` and
`evaluate.py` take (model, step and config; no optimiser state). Why: the training cache does not
outlive a machine, and the committed weights are then the only copy of the bundled net:

    python export.py --from-export ../../weights/clutter.safetensors --out clutter.pt
"""

import argparse
import os
import sys

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from evaluate import load_model  # noqa: E402
from model import ClutterNet, parse_gate  # noqa: E402


def rename(key):
    """model.py state-dict key -> exported name (drops the wrapper's `.conv`)."""
    k = key.replace(".conv.", ".")
    k = k.replace("gates.", "gate.", 1).replace("ups.", "up.", 1)
    return k.replace(".act.weight", ".slope")


def load_export(path):
    """The net in an export of this format (`ClutterNet` as its metadata says, eval mode), the
    stored tensors by exported name, and the metadata: the inverse of `main` below."""
    with safe_open(path, "pt") as f:
        meta = f.metadata()
    net = ClutterNet(int(meta["n0"]), int(meta["levels"]), meta.get("activation", "linear"))
    stored = load_file(path)
    net.load_state_dict({k: stored[rename(k)] for k in net.state_dict()})
    return net.eval(), stored, meta


def gate_of(meta):
    """The correction gate (alpha, box, level) an export's metadata holds, or None."""
    keys = ("gate_alpha", "gate_box", "gate_level")
    if not any(k in meta for k in keys):
        return None
    return parse_gate(",".join(meta[k] for k in keys))


def gate_arg(spec, default):
    """`--gate`: absent -> `default`, `none` -> no gate, else ALPHA,BOX,LEVEL."""
    if spec is None:
        return default
    return None if spec == "none" else parse_gate(spec)


def to_checkpoint(path, out, prime=None, gate=None):
    """Writes the net in export `path` as a checkpoint (the inverse of `main`'s export); `prime`
    and `gate` override the export's as `--prime` and `--gate` do for an export."""
    net, _, meta = load_export(path)
    prime = int(meta.get("prime", 0)) if prime is None else prime
    config = {"n0": net.n0, "levels": net.levels, "act": net.act, "prime": prime,
              "gate": gate_arg(gate, gate_of(meta))}
    torch.save({"model": net.state_dict(), "step": int(meta.get("step", 0)), "config": config}, out)
    print(f"{path} (step {meta.get('step', 0)}, {config}) -> {out}")
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--checkpoint", help="a train.py / train_gpu.py checkpoint to export")
    src.add_argument("--from-export", metavar="SAFETENSORS", help="an export to turn back into a checkpoint")
    ap.add_argument("--out", required=True)
    ap.add_argument("--prime", type=int, help="frames of priming (default: the source's, else 0)")
    ap.add_argument("--gate", metavar="ALPHA,BOX,LEVEL",
                    help="the correction gate (model.gate_correction); `none` drops it (default: the source's)")
    args = ap.parse_args()
    try:
        gate_arg(args.gate, None)
    except ValueError as e:
        ap.error(str(e))
    if args.from_export:
        return to_checkpoint(args.from_export, args.out, args.prime, args.gate)
    model, step = load_model(args.checkpoint)
    config = torch.load(args.checkpoint, weights_only=False, map_location="cpu").get("config", {})
    prime = config.get("prime", 0) if args.prime is None else args.prime
    gate = gate_arg(args.gate, config.get("gate"))
    tensors = {rename(k): v.detach().contiguous().float() for k, v in model.state_dict().items()}
    meta = {
        "n0": str(model.n0),
        "levels": str(model.levels),
        "step": str(step),
        "prime": str(prime),
        "temporal_padding": "causal",
        "spatial_padding": "tf_same",
        "activation": model.act,
        "layout": "NCTHW",
    }
    if gate is not None:
        meta.update({"gate_alpha": repr(float(gate[0])), "gate_box": str(int(gate[1])),
                     "gate_level": repr(float(gate[2]))})
    save_file(tensors, args.out, metadata=meta)
    for name, t in sorted(tensors.items()):
        print(f"{name:28s} {tuple(t.shape)}")
    print(f"{len(tensors)} tensors, {sum(t.numel() for t in tensors.values()):,} values -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
