#!/usr/bin/env python3
"""PSNR of ESPCN against bicubic on the held-out images (never trained on).

Protocol: HR = full-range luma of the image, cropped to a multiple of the scale; LR = anti-aliased
bicubic downscale (as in training); SR = network output, bicubic = PyTorch bicubic (a = -0.75)
upscale of the same LR, both clipped to [0,1]. PSNR on studio-range Y (16 + 219 Y, MATLAB
`rgb2ycbcr` convention; full-range Y gives 1.32 dB less for the same error), a `scale`-pixel
border shaved, no rounding to 8 bits.

Usage: evaluate.py [--weights models/weights/espcn_x3.safetensors ...] [--json OUT]
"""
import argparse
import json
import os
import sys

import numpy as np
import torch

from common import TRAIN_ROOT, bicubic_up, downscale, load_luma
import fetch_data

_IMAGES = None


def images():
    """(name, full-range luma plane) of the held-out images; cached."""
    global _IMAGES
    if _IMAGES is None:
        _IMAGES = []
        for _, path in fetch_data.locate(fetch_data.TEST, os.path.join(TRAIN_ROOT, "data")):
            _IMAGES.append((os.path.basename(path), load_luma(path)))
    return _IMAGES


def psnr_studio(a, b, shave):
    a = 16.0 / 255 + 219.0 / 255 * a[shave:-shave, shave:-shave]
    b = 16.0 / 255 + 219.0 / 255 * b[shave:-shave, shave:-shave]
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 10 * np.log10(1.0 / mse)


@torch.no_grad()
def evaluate(model, scale):
    was_training = model.training
    model.eval()
    rows = []
    for name, y in images():
        h, w = (y.shape[0] // scale) * scale, (y.shape[1] // scale) * scale
        hr = torch.from_numpy(np.ascontiguousarray(y[:h, :w]))[None, None]
        lr = downscale(hr, scale)
        sr = model(lr).clamp(0, 1)[0, 0].numpy()
        bi = bicubic_up(lr, scale).clamp(0, 1)[0, 0].numpy()
        hrn = hr[0, 0].numpy()
        p_sr, p_bi = psnr_studio(sr, hrn, scale), psnr_studio(bi, hrn, scale)
        rows.append({"image": name, "size": [w, h], "sr": round(p_sr, 3), "bicubic": round(p_bi, 3),
                     "gain": round(p_sr - p_bi, 3)})
    model.train(was_training)
    return {
        "scale": scale,
        "images": rows,
        "mean_sr": float(np.mean([r["sr"] for r in rows])),
        "mean_bicubic": float(np.mean([r["bicubic"] for r in rows])),
        "mean_gain": float(np.mean([r["gain"] for r in rows])),
    }


def table(res):
    lines = [f"| image | size | bicubic dB | ESPCN x{res['scale']} dB | gain dB |", "|---|---|---|---|---|"]
    for r in res["images"]:
        lines.append(f"| {r['image']} | {r['size'][0]}x{r['size'][1]} | {r['bicubic']:.2f} | {r['sr']:.2f} | {r['gain']:+.2f} |")
    lines.append(f"| **mean** | | {res['mean_bicubic']:.2f} | {res['mean_sr']:.2f} | **{res['mean_gain']:+.2f}** |")
    return "\n".join(lines)


def main():
    import export

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", nargs="+", required=True, help="espcn_x{r}.safetensors files")
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    out = []
    for path in args.weights:
        model = export.load_model(path)
        res = evaluate(model, model.scale)
        meta = export.metadata(path)
        res.update(weights=os.path.basename(path), step=int(meta["step"]),
                   train_min=round(int(meta["train_seconds"]) / 60, 1))
        print(f"{res['weights']}: step {res['step']}, {res['train_min']} min of training\n")
        print(table(res) + "\n")
        out.append(res)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    sys.exit(main())
