#!/usr/bin/env python3
"""Gather the ESPCN training photographs from Debian packages and prepare HR luma planes.

Training images: photographs from the wallpaper packages (see `TRAIN` below).
Each JPEG is decoded, downscaled by 2 with an anti-aliased (Lanczos) filter -- this removes
JPEG blocking and camera noise -- and converted to full-range luma
Y = (0.299 R + 0.587 G + 0.114 B) / 255 (BT.601, as JPEG), stored as float32 `.npy`.

Files come from the installed package when it is installed (`dpkg -L`), otherwise the
package is fetched with `apt-get download` and unpacked with `dpkg-deb -x` into
`<data>/debs/root` (no root privileges needed).  The held-out evaluation images (skimage,
sklearn, matplotlib) are located the same way by `evaluate.py` via `locate()`.

Usage: fetch_data.py [--data DIR] [--download]   (default DIR /var/cache/sluice/train/espcn/data)
"""
import argparse
import fnmatch
import json
import os
import subprocess
import sys

import numpy as np
from PIL import Image

DEFAULT_DATA = "/var/cache/sluice/train/espcn/data"

# package -> glob patterns (absolute paths inside the package) of the photographs used.
TRAIN = {
    # CC-BY-4.0 / CC-BY-SA-4.0 / CC0 per file (debian/copyright of the package)
    "lomiri-wallpapers-16.04": ["/usr/share/backgrounds/*.jpg"],
    # CC-BY-SA; the one photograph of the package
    "lomiri-wallpapers-20.04": ["/usr/share/backgrounds/Kleiber_by_Lukas_Baubkus.jpg"],
    # LGPL-3 / GPL-2+; the 2560x1600 JPEGs are the photographs (PNGs are illustrations)
    "plasma-workspace-wallpapers": ["/usr/share/wallpapers/*/contents/images/2560x1600.jpg"],
    # GPL-2+; nature photographs
    "mate-backgrounds": ["/usr/share/backgrounds/mate/nature/*.jpg"],
}

# Held-out test images (never trained on): package -> patterns.
TEST = {
    "python3-skimage": [
        "/usr/lib/python3/dist-packages/skimage/data/" + n
        for n in [
            "astronaut.png", "brick.png", "camera.png", "chelsea.png", "coffee.png", "coins.png",
            "grass.png", "gravel.png", "hubble_deep_field.jpg", "moon.png", "motorcycle_left.png",
            "page.png", "retina.jpg", "rocket.jpg", "text.png",
        ]
    ],
    "python3-sklearn": ["/usr/lib/python3/dist-packages/sklearn/datasets/images/*.jpg"],
    "python-matplotlib-data": ["/usr/share/matplotlib/mpl-data/sample_data/grace_hopper.jpg"],
}


def package_files(pkg, data, download=False):
    """Return (root, [paths in package]) for an installed or downloaded-and-unpacked package."""
    try:
        if download:
            raise FileNotFoundError
        out = subprocess.run(["dpkg", "-L", pkg], capture_output=True, text=True, check=True).stdout
        files = [l for l in out.splitlines() if os.path.isfile(l)]
        if files:
            return "/", files
    except (subprocess.CalledProcessError, FileNotFoundError):
        pass
    debs = os.path.join(data, "debs")
    root = os.path.join(debs, "root")
    os.makedirs(debs, exist_ok=True)
    marker = os.path.join(debs, pkg + ".unpacked")
    if not os.path.exists(marker):
        subprocess.run(["apt-get", "download", pkg], cwd=debs, check=True)
        deb = sorted(f for f in os.listdir(debs) if f.startswith(pkg + "_") and f.endswith(".deb"))[-1]
        subprocess.run(["dpkg-deb", "-x", os.path.join(debs, deb), root], check=True)
        open(marker, "w").close()
    files = []
    for dirpath, _, names in os.walk(root):
        for n in names:
            files.append("/" + os.path.relpath(os.path.join(dirpath, n), root))
    return root, files


def locate(spec, data, download=False):
    """Resolve {package: patterns} to a sorted list of (package, real path)."""
    found = []
    for pkg, patterns in spec.items():
        root, files = package_files(pkg, data, download)
        for f in sorted(files):
            if any(fnmatch.fnmatch(f, p) for p in patterns):
                found.append((pkg, os.path.join(root, f.lstrip("/")) if root != "/" else f))
    return found


def luma(img):
    """Full-range BT.601 luma in [0,1] from a PIL image (RGB or greyscale)."""
    a = np.asarray(img.convert("RGB"), dtype=np.float64)
    return ((0.299 * a[..., 0] + 0.587 * a[..., 1] + 0.114 * a[..., 2]) / 255.0).astype(np.float32)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=DEFAULT_DATA)
    ap.add_argument("--download", action="store_true", help="fetch the .debs even if the packages are installed")
    args = ap.parse_args()
    hr_dir = os.path.join(args.data, "hr")
    os.makedirs(hr_dir, exist_ok=True)
    manifest = []
    for pkg, path in locate(TRAIN, args.data, args.download):
        name = pkg + "__" + path.replace("/", "_").lstrip("_")
        out = os.path.join(hr_dir, os.path.splitext(name)[0] + ".npy")
        img = Image.open(path)
        w, h = img.size
        if not os.path.exists(out):
            small = img.convert("RGB").resize((w // 2, h // 2), Image.LANCZOS, reducing_gap=None)
            np.save(out, luma(small))
        manifest.append({"package": pkg, "source": path, "size": [w, h], "hr": out})
        print(f"{pkg}: {path} {w}x{h} -> {w // 2}x{h // 2}", file=sys.stderr)
    with open(os.path.join(args.data, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
    mpx = sum(m["size"][0] * m["size"][1] for m in manifest) / 1e6
    print(f"{len(manifest)} photographs, {mpx:.0f} Mpx source, HR planes in {hr_dir}")


if __name__ == "__main__":
    main()
