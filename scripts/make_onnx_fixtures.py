#!/usr/bin/env python3
"""Writes the ONNX fixtures of henn's importer tests (crates/nn/tests/fixtures/onnx/).

Each supported fixture NAME.onnx comes with NAME.json holding reference inputs and the outputs
computed by onnx.reference.ReferenceEvaluator, so the Rust tests check the imported model
against an independent implementation of the ONNX operators. Unsupported fixtures (MaxPool,
Sigmoid, a branching graph) check the importer's error messages.

Usage: pip install onnx numpy; python3 scripts/make_onnx_fixtures.py
Deterministic (fixed seeds); rerunning reproduces the committed files.
"""

import json
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator

OUT = os.path.join(os.path.dirname(__file__), "..", "crates", "nn", "tests", "fixtures", "onnx")
# Opset 15: the reference evaluator treats opset-9..13 BatchNormalization as training mode
# (it applies the default momentum), opset 14+ honours training_mode = 0.
OPSET = 15


def init(name, array):
    return numpy_helper.from_array(np.asarray(array), name)


def init_fields(name, array, dtype):
    """Like init() but stores the values in float_data / int64_data instead of raw_data, so both
    encodings are covered."""
    array = np.asarray(array)
    return helper.make_tensor(name, dtype, list(array.shape), array.flatten().tolist(), raw=False)


def save(name, nodes, inits, in_shape, out_shape, inputs=3, seed=0, reference=True):
    graph = helper.make_graph(
        nodes,
        name,
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, in_shape)],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, out_shape)],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="henn-fixtures")
    model.ir_version = 8
    onnx.checker.check_model(model)
    path = os.path.join(OUT, name + ".onnx")
    onnx.save(model, path)
    if not reference:
        return
    rng = np.random.default_rng(seed)
    sess = ReferenceEvaluator(model)
    cases = []
    for _ in range(inputs):
        x = rng.uniform(0.0, 1.0, size=[1] + list(in_shape[1:])).astype(np.float32)
        (y,) = sess.run(None, {"input": x})
        cases.append({"input": x.flatten().tolist(), "output": np.asarray(y, dtype=np.float32).flatten().tolist()})
    with open(os.path.join(OUT, name + ".json"), "w") as f:
        json.dump({"input_shape": list(in_shape[1:]), "cases": cases}, f)
        f.write("\n")


def f32(rng, *shape, scale=0.5):
    return rng.uniform(-scale, scale, size=shape).astype(np.float32)


def conv_square_dense():
    """LoLa-style: Pad (top/left 1) → Conv 3x3/2 → x*x → Flatten → Gemm(transB, alpha, beta)
    → Pow(x, 2) → MatMul → Add."""
    rng = np.random.default_rng(1)
    nodes = [
        helper.make_node("Pad", ["input", "pads"], ["padded"], name="pad0", mode="constant"),
        helper.make_node("Conv", ["padded", "conv_w", "conv_b"], ["conv"], name="conv1", strides=[2, 2], kernel_shape=[3, 3]),
        helper.make_node("Mul", ["conv", "conv"], ["sq1"], name="square1"),
        helper.make_node("Flatten", ["sq1"], ["flat"], name="flatten", axis=1),
        helper.make_node("Gemm", ["flat", "fc1_w", "fc1_b"], ["fc1"], name="fc1", transB=1, alpha=0.5, beta=2.0),
        helper.make_node("Pow", ["fc1", "two"], ["sq2"], name="square2"),
        helper.make_node("MatMul", ["sq2", "fc2_w"], ["mm"], name="fc2"),
        helper.make_node("Add", ["mm", "fc2_b"], ["output"], name="fc2_bias"),
    ]
    inits = [
        init_fields("pads", np.array([0, 0, 1, 1, 0, 0, 0, 0], dtype=np.int64), TensorProto.INT64),
        init("conv_w", f32(rng, 3, 1, 3, 3)),
        init_fields("conv_b", f32(rng, 3, scale=0.1), TensorProto.FLOAT),
        init("fc1_w", f32(rng, 6, 48, scale=0.3)),
        init("fc1_b", f32(rng, 6, scale=0.1)),
        init("two", np.array(2.0, dtype=np.float32)),
        init("fc2_w", f32(rng, 6, 4)),
        init("fc2_b", f32(rng, 4, scale=0.1)),
    ]
    save("conv_square_dense", nodes, inits, [1, 1, 8, 8], [1, 4], seed=11)


def bn_relu_pool():
    """Conv (asymmetric pads) → BatchNormalization → Relu → AveragePool (padded,
    count_include_pad) → Reshape [1, -1] → Gemm (transB = 0, C [1, N])."""
    rng = np.random.default_rng(2)
    nodes = [
        helper.make_node("Conv", ["input", "conv_w", "conv_b"], ["conv"], name="conv1", pads=[1, 0, 0, 1], strides=[1, 1]),
        helper.make_node("BatchNormalization", ["conv", "bn_s", "bn_b", "bn_m", "bn_v"], ["bn"], name="bn1", epsilon=1e-3),
        helper.make_node("Relu", ["bn"], ["relu"], name="relu1"),
        helper.make_node("AveragePool", ["relu"], ["pool"], name="pool1", kernel_shape=[2, 2], strides=[2, 2], pads=[0, 0, 1, 1], count_include_pad=1),
        helper.make_node("Reshape", ["pool", "shape"], ["flat"], name="reshape"),
        helper.make_node("Gemm", ["flat", "fc_w", "fc_b"], ["output"], name="fc"),
    ]
    inits = [
        init("conv_w", f32(rng, 3, 2, 2, 2)),
        init("conv_b", f32(rng, 3, scale=0.1)),
        init("bn_s", rng.uniform(0.5, 1.5, 3).astype(np.float32)),
        init("bn_b", f32(rng, 3, scale=0.2)),
        init("bn_m", f32(rng, 3, scale=0.2)),
        init("bn_v", rng.uniform(0.5, 2.0, 3).astype(np.float32)),
        init("shape", np.array([1, -1], dtype=np.int64)),
        # input 6x6, conv 2x2 pads top 1 right 1 → 6x6, pool 2/2 padded bottom/right → 3x3 (3·9 = 27)
        init("fc_w", f32(rng, 27, 5, scale=0.3)),
        init("fc_b", f32(rng, 1, 5, scale=0.1)),
    ]
    save("bn_relu_pool", nodes, inits, [1, 2, 6, 6], [1, 5], seed=12)


def unsupported():
    rng = np.random.default_rng(3)
    save(
        "maxpool",
        [
            helper.make_node("Conv", ["input", "w"], ["c"], name="conv1"),
            helper.make_node("MaxPool", ["c"], ["output"], name="pool1", kernel_shape=[2, 2], strides=[2, 2]),
        ],
        [init("w", f32(rng, 2, 1, 3, 3))],
        [1, 1, 6, 6],
        [1, 2, 2, 2],
        reference=False,
    )
    save(
        "sigmoid",
        [
            helper.make_node("Gemm", ["input", "w"], ["g"], name="fc1", transB=1),
            helper.make_node("Sigmoid", ["g"], ["output"], name="act"),
        ],
        [init("w", f32(rng, 3, 4))],
        [1, 4],
        [1, 3],
        reference=False,
    )
    save(
        "branch",
        [
            helper.make_node("Relu", ["input"], ["r"], name="relu1"),
            helper.make_node("Add", ["input", "r"], ["output"], name="residual"),
        ],
        [],
        [1, 4],
        [1, 4],
        reference=False,
    )


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    conv_square_dense()
    bn_relu_pool()
    unsupported()
    print("wrote fixtures to", os.path.normpath(OUT))
