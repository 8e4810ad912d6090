"""PyTorch peer for the Rust clutter-filter bench: whole-clip inference of the committed weights
(models/weights/clutter.safetensors) on a 1x1xTxSxS clip, float32, torch.set_num_threads(1) and
(2); prints best and median ms per frame over several runs and fps = 1000 / median. Compare with
`cargo run --release -p sluice-models --example clutter_throughput` on the same machine.

    /var/cache/sluice/torch-venv/bin/python torch_bench.py [--size 128 --frames 32 --reps 5]
"""

import argparse
import os
import statistics
import sys
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from export import load_export  # noqa: E402

WEIGHTS = os.path.join(HERE, "..", "..", "weights", "clutter.safetensors")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", default=WEIGHTS)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--frames", type=int, default=32)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--threads", default="1,2")
    args = ap.parse_args()
    net = load_export(args.weights)[0]
    x = torch.rand(1, 1, args.frames, args.size, args.size, generator=torch.Generator().manual_seed(0))
    print(f"PyTorch {torch.__version__}, clutter filter whole clip {args.frames}x{args.size}x{args.size}")
    for n in (int(t) for t in args.threads.split(",")):
        torch.set_num_threads(n)
        with torch.inference_mode():
            net(x)  # warm-up
            ms = []
            for _ in range(args.reps):
                t = time.perf_counter()
                net(x)
                ms.append((time.perf_counter() - t) * 1e3 / args.frames)
        med = statistics.median(ms)
        print(f"torch.set_num_threads({n}): best {min(ms):.1f} ms, median {med:.1f} ms per frame = {1e3 / med:.1f} fps")
    return 0


if __name__ == "__main__":
    sys.exit(main())
