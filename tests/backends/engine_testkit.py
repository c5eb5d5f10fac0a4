"""Torch-free fixtures for engine tests: a hand-built ONNX "bright spot" network and tiny datasets.

The network (standard ops, opset 18, edgeinspect metadata) maps ``image (N,1,H,W)`` in [0,255] to
``prob = min(s * (1 - eps + 2 eps * mean3x3(s)), 1)`` with ``s = sigmoid(20 * x/255 - 14)`` (the PCM
decomposition after a sigmoid head) and ``loc = s``: a pixel brighter than ~178 is a defect. It is
exact on :func:`write_squares_dataset` images (bright squares on a mid-gray noisy web), so FP32 mIoU
is ~1 and a broken INT8 calibration shows as a large drop.

Also used by tests/test_runtime_imports.py (loaded by path in a subprocess without torch).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np


def bright_net_onnx(path: Path, tile_hw: tuple[int, int] = (32, 32), *, with_loc: bool = True, channels: int = 1) -> Path:
    """Write the bright-spot network to ``path`` and return it.

    One channel by default: with several equal head weights, u8×s8 int8 kernels on AVX2 CPUs without
    VNNI saturate their 16-bit pair sums (vpmaddubsw) and the INT8 engine is wrong (the gate catches it).
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from edgeinspect.export.metadata import write_metadata

    height, width = tile_hw
    identity = np.zeros((channels, 1, 3, 3), np.float32)
    identity[:, 0, 1, 1] = 1.0
    head = np.full((1, channels, 1, 1), 20.0 / channels, np.float32)
    mean3 = np.full((1, 1, 3, 3), 1.0 / 9.0, np.float32)
    inits = [
        numpy_helper.from_array(np.array(1.0 / 255.0, np.float32), "scale"),
        numpy_helper.from_array(identity, "w1"),
        numpy_helper.from_array(np.zeros(channels, np.float32), "b1"),
        numpy_helper.from_array(head, "w2"),
        numpy_helper.from_array(np.array([-14.0], np.float32), "b2"),
        numpy_helper.from_array(mean3, "k"),
        numpy_helper.from_array(np.array(0.4, np.float32), "two_eps"),
        numpy_helper.from_array(np.array(0.8, np.float32), "one_minus_eps"),
        numpy_helper.from_array(np.array(1.0, np.float32), "one"),
    ]
    nodes = [
        helper.make_node("Mul", ["image", "scale"], ["x01"], name="normalize"),
        helper.make_node("Conv", ["x01", "w1", "b1"], ["f"], pads=[1, 1, 1, 1], name="conv1"),
        helper.make_node("Relu", ["f"], ["fr"], name="relu1"),
        helper.make_node("Conv", ["fr", "w2", "b2"], ["logits"], name="head"),
        helper.make_node("Sigmoid", ["logits"], ["loc" if with_loc else "s"], name="sigmoid"),
    ]
    s = "loc" if with_loc else "s"
    nodes += [
        helper.make_node("Conv", [s, "k"], ["m_ipc"], pads=[1, 1, 1, 1], name="pcm_conv"),
        helper.make_node("Mul", ["m_ipc", "two_eps"], ["m2"], name="pcm_mul"),
        helper.make_node("Add", ["m2", "one_minus_eps"], ["m_pcm"], name="pcm_add"),
        helper.make_node("Mul", [s, "m_pcm"], ["y"], name="pcm_apply"),
        helper.make_node("Clip", ["y", "", "one"], ["prob"], name="pcm_clip"),
    ]
    shape = ["batch", 1, height, width]
    outputs = [helper.make_tensor_value_info("prob", TensorProto.FLOAT, shape)]
    if with_loc:
        outputs.append(helper.make_tensor_value_info("loc", TensorProto.FLOAT, shape))
    graph = helper.make_graph(nodes, "bright_net", [helper.make_tensor_value_info("image", TensorProto.FLOAT, shape)],
                              outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], producer_name="engine_testkit")
    model.ir_version = 10
    write_metadata(model, arch="bright-test", kwargs={"threshold": 178}, tile_hw=tile_hw, op_form="standard",
                   outputs=("prob", "loc") if with_loc else ("prob",))
    onnx.checker.check_model(model)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save_model(model, str(path))
    return path


def bright_net_numpy(image: np.ndarray) -> np.ndarray:
    """NumPy reference of the network's ``prob`` for ``(N,1,H,W)`` float inputs (float64)."""
    from edgeinspect.ops.pixel_confidence.reference import pixel_confidence

    s = 1.0 / (1.0 + np.exp(-(20.0 * np.asarray(image, np.float64) / 255.0 - 14.0)))
    return pixel_confidence(s, epsilon=0.2)


def squares_image(rng: np.random.Generator, hw: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """One ``(H, W)`` uint8 web (gray 100 ± 12 noise) with 0–2 bright (240) squares, and its bool mask."""
    height, width = hw
    image = np.clip(rng.normal(100, 12, hw), 0, 255).astype(np.uint8)
    mask = np.zeros(hw, bool)
    for _ in range(int(rng.integers(0, 3))):
        size = int(rng.integers(max(3, height // 8), max(4, height // 3)))
        y, x = int(rng.integers(0, height - size)), int(rng.integers(0, width - size))
        mask[y : y + size, x : x + size] = True
    image[mask] = 240
    return image, mask


def write_squares_dataset(root: Path, *, count: int = 10, hw: tuple[int, int] = (32, 32), seed: int = 0) -> Path:
    """``root/images/*.png`` + ``root/masks/*.png`` (pairs layout) of :func:`squares_image` webs."""
    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "masks").mkdir(parents=True, exist_ok=True)
    for index in range(count):
        image, mask = squares_image(rng, hw)
        if index % 3 == 0 and not mask.any():  # most samples show a defect
            mask[2:8, 2:8] = True
            image[mask] = 240
        cv2.imwrite(str(root / "images" / f"web_{index:03d}.png"), image)
        cv2.imwrite(str(root / "masks" / f"web_{index:03d}.png"), mask.astype(np.uint8) * 255)
    return root


def write_black_images(root: Path, *, count: int = 6, hw: tuple[int, int] = (32, 32)) -> Path:
    """A folder of all-black ``(H, W)`` uint8 PNGs (a useless calibration set)."""
    root.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        cv2.imwrite(str(root / f"black_{index:02d}.png"), np.zeros(hw, np.uint8))
    return root
