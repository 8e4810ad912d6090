"""Pieces shared by the ESPCN training, evaluation and export scripts."""
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image

TRAIN_ROOT = "/var/cache/sluice/train/espcn"


class Espcn(nn.Module):
    """Shi et al. 2016: conv5x5 1->64 tanh, conv3x3 64->32 tanh, conv3x3 32->r^2, pixel shuffle.

    "Same" zero padding, as the engine runs it. Input and output: full-range luma in [0,1].
    """

    def __init__(self, scale):
        super().__init__()
        self.scale = scale
        self.conv1 = nn.Conv2d(1, 64, 5, padding=2)
        self.conv2 = nn.Conv2d(64, 32, 3, padding=1)
        self.conv3 = nn.Conv2d(32, scale * scale, 3, padding=1)

    def forward(self, x):
        x = torch.tanh(self.conv1(x))
        x = torch.tanh(self.conv2(x))
        return F.pixel_shuffle(self.conv3(x), self.scale)


def luma(img):
    """Full-range BT.601 luma Y = (0.299 R + 0.587 G + 0.114 B) / 255 as float32 in [0,1]."""
    a = np.asarray(img.convert("RGB"), dtype=np.float64)
    return ((0.299 * a[..., 0] + 0.587 * a[..., 1] + 0.114 * a[..., 2]) / 255.0).astype(np.float32)


def load_luma(path):
    return luma(Image.open(path))


def downscale(hr, scale):
    """LR = anti-aliased bicubic downscaling by `scale` (N,1,H,W with H,W multiples of scale)."""
    return F.interpolate(hr, scale_factor=1.0 / scale, mode="bicubic", antialias=True, align_corners=False)


def bicubic_up(lr, scale):
    """The bicubic baseline (PyTorch/OpenCV cubic, a = -0.75)."""
    return F.interpolate(lr, scale_factor=scale, mode="bicubic", align_corners=False)


def patch_candidates(planes, hr):
    """Top-left corners (plane, y, x) of HR patches on a half-patch grid and their sampling
    weights: mean |gradient| of the patch plus 10 % of the mean (wallpapers are full of flat
    bokeh, but some flat patches must stay)."""
    stride = hr // 2
    cands, weights = [], []
    for i, p in enumerate(planes):
        g = np.abs(np.diff(p, axis=0))[:, :-1] + np.abs(np.diff(p, axis=1))[:-1, :]
        ii = np.pad(g.astype(np.float64).cumsum(0).cumsum(1), ((1, 0), (1, 0)))
        ys = np.arange(0, g.shape[0] - hr, stride)
        xs = np.arange(0, g.shape[1] - hr, stride)
        yy, xx = np.meshgrid(ys, xs, indexing="ij")
        e = (ii[yy + hr, xx + hr] - ii[yy, xx + hr] - ii[yy + hr, xx] + ii[yy, xx]).ravel() / (hr * hr)
        cands.append(np.stack([np.full(e.size, i), yy.ravel(), xx.ravel()], 1))
        weights.append(e)
    w = np.concatenate(weights)
    w = w + 0.1 * w.mean()
    return np.concatenate(cands), w / w.sum()
