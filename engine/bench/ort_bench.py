#!/usr/bin/env python3
"""ONNX Runtime peer for the engine bench (engine/benches/engine.rs).

The Rust bench writes each network's weights, input and the engine's output as raw
little-endian f32 files plus manifest.json (channels-last tensors, no batch dim; weights in
ONNX order [Cout][Cin/groups][k..]). This script builds the same graphs with onnx.helper in
ORT's NCHW / NCDHW layout, times them best-of-N and prints JSON on stdout:

  {"onnxruntime": "...", "results": [{"network", "layer", "threads", "opt", "best_ms",
   "median_ms", "best_wall_ms", "samples", "max_abs_diff_vs_engine"?}, ...]}

"layer" is a layer name (that layer alone, on a seeded random input) or "total" (the whole
network on the bench's input, checked against the engine output). A one-layer network's
layer graph runs on the bench input and is checked too. best/median are thread CPU time at
1 thread (ORT runs on the calling thread), wall time otherwise. Spinning is off
(allow_spinning=0) so idle pool threads do not steal the other core on a shared machine.

  python3 engine/bench/ort_bench.py --dir <target>/bench-weights --threads 1,2 --reps 10
"""

import argparse
import json
import os
import statistics
import sys
import time

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
IR_VERSION = 8
ACTIVATIONS = {"identity": None, "relu": "Relu", "tanh": "Tanh", "sigmoid": "Sigmoid", "leaky_relu": "LeakyRelu"}
OPTS = {"all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL, "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED}


def load(directory, ref):
    arr = np.fromfile(os.path.join(directory, ref["file"]), dtype="<f4")
    if arr.size != ref["len"]:
        raise SystemExit(f"{ref['file']}: {arr.size} floats, manifest says {ref['len']}")
    return arr


def add_layer(directory, layer, x, nodes, inits):
    """Appends Conv (+ activation, + DepthToSpace) for `layer` reading tensor `x`; returns its output name."""
    name = layer["name"]
    cin_g = layer["in_channels"] // layer["groups"]
    w = load(directory, layer["weights"]).reshape(layer["out_channels"], cin_g, *layer["kernel"])
    b = load(directory, layer["bias"])
    inits += [numpy_helper.from_array(w, f"{name}_w"), numpy_helper.from_array(b, f"{name}_b")]
    y = f"{name}_conv"
    nodes.append(
        helper.make_node(
            "Conv",
            [x, f"{name}_w", f"{name}_b"],
            [y],
            kernel_shape=layer["kernel"],
            strides=layer["stride"],
            dilations=layer["dilation"],
            pads=layer["pad_begin"] + layer["pad_end"],
            group=layer["groups"],
        )
    )
    act = ACTIVATIONS[layer["activation"]]
    if act:
        # The engine's scalar-slope PReLU is ONNX's LeakyRelu with alpha = slope.
        attrs = {"alpha": layer["slope"]} if act == "LeakyRelu" else {}
        nodes.append(helper.make_node(act, [y], [f"{name}_act"], **attrs))
        y = f"{name}_act"
    r = layer["pixel_shuffle"]
    if r > 1:
        nodes.append(helper.make_node("DepthToSpace", [y], [f"{name}_d2s"], blocksize=r, mode="CRD"))
        y = f"{name}_d2s"
    return y


def output_shape(layers):
    """[C, spatial..] after the last layer (pixel shuffle included)."""
    dims = layers[0]["in_dims"]
    for layer in layers:
        dims = [
            (n + pb + pe - d * (k - 1) - 1) // s + 1
            for n, pb, pe, d, k, s in zip(
                dims, layer["pad_begin"], layer["pad_end"], layer["dilation"], layer["kernel"], layer["stride"]
            )
        ]
        r = layer["pixel_shuffle"]
        dims = dims[:-2] + [x * r for x in dims[-2:]] if r > 1 else dims
    last = layers[-1]
    return [last["out_channels"] // (last["pixel_shuffle"] ** 2), *dims]


def build(directory, layers, graph_name):
    """An ONNX model running `layers` in sequence on input "x" (NC + spatial)."""
    first = layers[0]
    nodes, inits = [], []
    y = "x"
    for layer in layers:
        y = add_layer(directory, layer, y, nodes, inits)
    nodes.append(helper.make_node("Identity", [y], ["y"]))
    x_info = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, first["in_channels"], *first["in_dims"]])
    y_info = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, *output_shape(layers)])
    graph = helper.make_graph(nodes, graph_name, [x_info], [y_info], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model)
    return model.SerializeToString()


def session(model, threads, opt):
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = OPTS[opt]
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    so.add_session_config_entry("session.inter_op.allow_spinning", "0")
    return ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])


def timed(sess, feed, threads, reps, budget):
    out = sess.run(None, feed)[0]  # warm-up (and the output for the check)
    main, walls = [], []
    start = time.perf_counter()
    while len(main) < max(reps, 1) and (not main or time.perf_counter() - start < budget):
        w0, c0 = time.perf_counter(), time.thread_time()
        sess.run(None, feed)
        wall, cpu = time.perf_counter() - w0, time.thread_time() - c0
        main.append(cpu if threads == 1 else wall)
        walls.append(wall)
    return out, sorted(main), sorted(walls)


def channels_first(arr, dims, channels):
    """Channels-last [spatial..][C] → [1][C][spatial..]."""
    return np.ascontiguousarray(np.moveaxis(arr.reshape(*dims, channels), -1, 0)[None])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dir", required=True, help="folder with manifest.json (the Rust bench's --weights-dir)")
    ap.add_argument("--threads", default="1", help="comma-separated intra-op thread counts")
    ap.add_argument("--reps", type=int, default=10, help="timed samples after one warm-up")
    ap.add_argument("--budget", type=float, default=30.0, help="stop sampling a graph after this many seconds")
    ap.add_argument("--opts", default="all,extended", help="graph optimisation levels: all, extended")
    ap.add_argument("--filter", default=None, help="only networks whose name contains NET (or NET.LAYER: that layer)")
    args = ap.parse_args()

    with open(os.path.join(args.dir, "manifest.json")) as f:
        manifest = json.load(f)
    threads = [int(t) for t in args.threads.split(",")]
    opts = [o.strip() for o in args.opts.split(",")]
    rng = np.random.default_rng(7)
    net_filter, _, only = (args.filter or "").partition(".")
    results = []
    for net in manifest["networks"]:
        if net_filter and net_filter not in net["name"]:
            continue
        layers = net["layers"]
        first = layers[0]
        whole = net["input"] is not None and net["engine_output"] is not None
        if whole:
            x_net = channels_first(load(args.dir, net["input"]), first["in_dims"], first["in_channels"])
            want = load(args.dir, net["engine_output"]).reshape(*net["output_dims"], net["output_channels"])
        graphs = []  # (row name, layers, input, check against the engine?)
        for layer in layers:
            if only and layer["name"] != only:
                continue
            if len(layers) == 1 and whole:
                graphs.append((layer["name"], [layer], x_net, True))
            else:
                x = rng.uniform(-1, 1, (1, layer["in_channels"], *layer["in_dims"])).astype(np.float32)
                graphs.append((layer["name"], [layer], x, False))
        if len(layers) > 1 and whole and not only:
            graphs.append(("total", layers, x_net, True))
        for row, graph_layers, x, check in graphs:
            model = build(args.dir, graph_layers, f"{net['name']}_{row}")
            for t in threads:
                for opt in opts:
                    sess = session(model, t, opt)
                    out, main_t, walls = timed(sess, {"x": x}, t, args.reps, args.budget)
                    r = {
                        "network": net["name"],
                        "layer": row,
                        "threads": t,
                        "opt": opt,
                        "best_ms": main_t[0] * 1e3,
                        "median_ms": statistics.median(main_t) * 1e3,
                        "best_wall_ms": walls[0] * 1e3,
                        "samples": len(main_t),
                        "flops": sum(l["flops"] for l in graph_layers),
                    }
                    if check:
                        got = np.moveaxis(out[0], 0, -1)
                        if got.shape != want.shape:
                            raise SystemExit(f"{net['name']}: ORT output {got.shape}, engine output {want.shape}")
                        r["max_abs_diff_vs_engine"] = float(np.max(np.abs(got.astype(np.float64) - want)))
                    results.append(r)
                    print(
                        f"  ORT {net['name']} {row} {t}t {opt}: {r['best_ms']:.3f} ms"
                        + (f", max|diff| vs engine {r['max_abs_diff_vs_engine']:.2e}" if check else ""),
                        file=sys.stderr,
                    )
    json.dump(
        {"onnxruntime": ort.__version__, "onnx": onnx.__version__, "numpy": np.__version__, "results": results},
        sys.stdout,
        indent=1,
    )
    print()


if __name__ == "__main__":
    main()
