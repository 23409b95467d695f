#!/usr/bin/env python3
"""Trains LoLa's MNIST network (section 4.3 of the LoLa paper, after collapsing: conv 5x5
stride 2, 5 maps, top/left padding 1 → 845, square, dense 100, square, dense 10) in plain numpy
and writes it as ONNX, so `henn import` and `henn eval` can be measured on a real network
independently of henn's own trainer (`henn train`, candle). Also prints the numpy test accuracy,
which `henn eval` must reproduce.

Usage: python3 scripts/lola_reference_onnx.py MNIST_DIR OUT.onnx [EPOCHS]
(pip install numpy onnx). Deterministic for a given numpy version (seeded).
"""

import gzip
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def idx(path):
    with gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load(d, split):
    p = "train" if split == "train" else "t10k"
    x = idx(os.path.join(d, f"{p}-images-idx3-ubyte.gz")).astype(np.float32) / 255.0
    y = idx(os.path.join(d, f"{p}-labels-idx1-ubyte.gz")).astype(np.int64)
    return x, y


def patches(x):
    """(N, 28, 28) → (N, 169, 25): 5x5 windows, stride 2, after padding top/left by one."""
    n = x.shape[0]
    xp = np.zeros((n, 29, 29), np.float32)
    xp[:, 1:, 1:] = x
    out = np.empty((n, 13, 13, 25), np.float32)
    for ky in range(5):
        for kx in range(5):
            out[:, :, :, ky * 5 + kx] = xp[:, ky : ky + 25 : 2, kx : kx + 25 : 2]
    return out.reshape(n, 169, 25)


def forward(p, params):
    wc, bc, w2, b2, w3, b3 = params
    z1 = p @ wc.T + bc  # (N, 169, 5)
    a1 = (z1.transpose(0, 2, 1).reshape(len(p), 845)) ** 2  # CHW flatten
    z2 = a1 @ w2.T + b2
    a2 = z2**2
    return z1, a1, z2, a2, a2 @ w3.T + b3


def main():
    mnist, out = sys.argv[1], sys.argv[2]
    epochs = int(sys.argv[3]) if len(sys.argv) > 3 else 6
    rng = np.random.default_rng(0)
    xtr, ytr = load(mnist, "train")
    xte, yte = load(mnist, "test")
    ptr, pte = patches(xtr), patches(xte)
    params = [
        rng.normal(0, 0.2, (5, 25)).astype(np.float32),
        np.zeros(5, np.float32),
        rng.normal(0, 0.5 / np.sqrt(845), (100, 845)).astype(np.float32),
        np.zeros(100, np.float32),
        rng.normal(0, 0.5 / np.sqrt(100), (10, 100)).astype(np.float32),
        np.zeros(10, np.float32),
    ]
    m = [np.zeros_like(q) for q in params]
    v = [np.zeros_like(q) for q in params]
    step, batch = 0, 64
    for epoch in range(epochs):
        lr = 1e-3 * (0.5 ** max(0, epoch - 2))
        order = rng.permutation(len(ptr))
        for s in range(0, len(order), batch):
            i = order[s : s + batch]
            p, y = ptr[i], ytr[i]
            n = len(i)
            z1, a1, z2, a2, z3 = forward(p, params)
            z3 = z3 - z3.max(1, keepdims=True)
            prob = np.exp(z3)
            prob /= prob.sum(1, keepdims=True)
            g3 = prob
            g3[np.arange(n), y] -= 1
            g3 /= n
            wc, bc, w2, b2, w3, b3 = params
            gw3, gb3 = g3.T @ a2, g3.sum(0)
            gz2 = (g3 @ w3) * 2 * z2
            gw2, gb2 = gz2.T @ a1, gz2.sum(0)
            ga1 = gz2 @ w2
            gz1 = (ga1.reshape(n, 5, 169).transpose(0, 2, 1)) * 2 * z1  # (N, 169, 5)
            gwc = np.einsum("npo,npk->ok", gz1, p)
            gbc = gz1.sum((0, 1))
            step += 1
            for j, g in enumerate([gwc, gbc, gw2, gb2, gw3, gb3]):
                m[j] = 0.9 * m[j] + 0.1 * g
                v[j] = 0.999 * v[j] + 0.001 * g * g
                mh, vh = m[j] / (1 - 0.9**step), v[j] / (1 - 0.999**step)
                params[j] = (params[j] - lr * mh / (np.sqrt(vh) + 1e-8)).astype(np.float32)
        acc = (forward(pte, params)[4].argmax(1) == yte).mean()
        print(f"epoch {epoch + 1}: test accuracy {100 * acc:.2f}%", flush=True)

    wc, bc, w2, b2, w3, b3 = params
    nodes = [
        helper.make_node("Conv", ["input", "conv_w", "conv_b"], ["c"], name="conv", strides=[2, 2], pads=[1, 1, 0, 0]),
        helper.make_node("Mul", ["c", "c"], ["s1"], name="square1"),
        helper.make_node("Flatten", ["s1"], ["f"], name="flatten"),
        helper.make_node("Gemm", ["f", "fc1_w", "fc1_b"], ["d1"], name="fc1", transB=1),
        helper.make_node("Mul", ["d1", "d1"], ["s2"], name="square2"),
        helper.make_node("Gemm", ["s2", "fc2_w", "fc2_b"], ["output"], name="fc2", transB=1),
    ]
    inits = [
        numpy_helper.from_array(wc.reshape(5, 1, 5, 5), "conv_w"),
        numpy_helper.from_array(bc, "conv_b"),
        numpy_helper.from_array(w2, "fc1_w"),
        numpy_helper.from_array(b2, "fc1_b"),
        numpy_helper.from_array(w3, "fc2_w"),
        numpy_helper.from_array(b3, "fc2_b"),
    ]
    graph = helper.make_graph(
        nodes,
        "lola-mnist",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 1, 28, 28])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", 10])],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 15)], producer_name="henn-lola-reference")
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, out)
    print("wrote", out)


if __name__ == "__main__":
    main()
