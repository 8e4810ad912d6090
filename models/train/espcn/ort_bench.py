#!/usr/bin/env python3
"""ONNX Runtime peer for the ESPCN frame bench (models/examples/espcn_frame_cost.rs).

Builds the ONNX graph of a bundled network from its safetensors file (Conv/Tanh/Conv/Tanh/Conv/
DepthToSpace CRD, NCHW, 1x1x360x640 input; written next to the bench data as espcn_x{r}.onnx),
times it with ORT at 1 and 2 intra-op threads, optimisation ALL, spinning off, best and median
wall time of --reps frames, and checks its output against the engine output the Rust example
dumped (--dump DIR).

  cargo run --release -p sluice-models --example espcn_frame_cost -- --dump /tmp/espcn-bench
  python models/train/espcn/ort_bench.py --dir /tmp/espcn-bench --scale 3
Needs onnxruntime, onnx, numpy (engine/bench/requirements.txt).
"""
import argparse
import json
import os
import statistics
import struct
import time

import numpy as np
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper, save

H, W = 360, 640


def read_safetensors(path):
    """{name: float32 array} and metadata of a safetensors file (F32 only)."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    meta = header.pop("__metadata__", {})
    body = data[8 + n :]
    out = {}
    for name, e in header.items():
        assert e["dtype"] == "F32", name
        b, end = e["data_offsets"]
        out[name] = np.frombuffer(body[b:end], dtype="<f4").reshape(e["shape"])
    return out, meta


def build(tensors, scale, path):
    nodes, inits, x = [], [], "y"
    for i, (k, act) in enumerate([(5, "Tanh"), (3, "Tanh"), (3, None)], start=1):
        w, b = f"conv{i}.weight", f"conv{i}.bias"
        inits += [numpy_helper.from_array(tensors[w], w), numpy_helper.from_array(tensors[b], b)]
        p = k // 2
        nodes.append(helper.make_node("Conv", [x, w, b], [f"c{i}"], kernel_shape=[k, k], pads=[p, p, p, p]))
        x = f"c{i}"
        if act:
            nodes.append(helper.make_node(act, [x], [f"a{i}"]))
            x = f"a{i}"
    nodes.append(helper.make_node("DepthToSpace", [x], ["sr"], blocksize=scale, mode="CRD"))
    graph = helper.make_graph(
        nodes,
        "espcn",
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1, H, W])],
        [helper.make_tensor_value_info("sr", TensorProto.FLOAT, [1, 1, H * scale, W * scale])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    save(model, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--scale", type=int, default=3)
    ap.add_argument("--reps", type=int, default=10)
    args = ap.parse_args()
    repo = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", ".."))
    tensors, _ = read_safetensors(os.path.join(repo, "models", "weights", f"espcn_x{args.scale}.safetensors"))
    onnx_path = os.path.join(args.dir, f"espcn_x{args.scale}.onnx")
    build(tensors, args.scale, onnx_path)
    x = np.fromfile(os.path.join(args.dir, "input.f32"), dtype="<f4").reshape(1, 1, H, W)
    engine = np.fromfile(os.path.join(args.dir, "engine_out.f32"), dtype="<f4")
    for threads in (1, 2):
        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
        sess = ort.InferenceSession(onnx_path, so, providers=["CPUExecutionProvider"])
        out = sess.run(None, {"y": x})[0].ravel()
        ms = []
        for _ in range(args.reps):
            t = time.perf_counter()
            sess.run(None, {"y": x})
            ms.append((time.perf_counter() - t) * 1e3)
        print(f"ORT {ort.__version__} ESPCN x{args.scale} {H}x{W}, {threads} thread(s), opt ALL: best {min(ms):.1f} ms, "
              f"median {statistics.median(ms):.1f} ms; max |ort - engine| = {np.abs(out - engine).max():.2e}")


if __name__ == "__main__":
    main()
