"""The torch forms of the custom ops equal their NumPy references (the one definition of the math)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from edgeinspect.ops.pixel_confidence.reference import confidence_map, mean_kernel, pixel_confidence
from edgeinspect.ops.pixel_confidence.torch import PixelConfidence
from edgeinspect.ops.strip_projection.reference import strip_projection
from edgeinspect.ops.strip_projection.torch import StripProjection

TOLERANCE = {torch.float64: 1e-6, torch.float32: 1e-5}


def _random_strip(channels: int, height: int, width: int, rng: np.random.Generator) -> StripProjection:
    module = StripProjection(channels, height, width)
    with torch.no_grad():
        module.w_row.copy_(torch.from_numpy(rng.normal(0, 1 / np.sqrt(height), (channels, height))))
        module.b_row.copy_(torch.from_numpy(rng.normal(0, 0.5, channels)))
        module.w_col.copy_(torch.from_numpy(rng.normal(0, 1 / np.sqrt(width), (channels, width))))
        module.b_col.copy_(torch.from_numpy(rng.normal(0, 0.5, channels)))
    return module


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize(
    "shape", [(1, 1, 1, 1), (2, 3, 5, 7), (1, 8, 16, 16), (3, 4, 9, 1), (2, 2, 1, 11), (1, 16, 64, 33)]
)
def test_strip_projection_matches_reference(shape: tuple[int, int, int, int], dtype: torch.dtype) -> None:
    rng = np.random.default_rng(sum(shape))
    n, c, h, w = shape
    module = _random_strip(c, h, w, rng).to(dtype)
    x = rng.normal(0, 1, shape)
    out = module(torch.from_numpy(x).to(dtype)).detach().numpy()
    ref = strip_projection(
        x, module.w_row.detach().double().numpy(), module.b_row.detach().double().numpy(),
        module.w_col.detach().double().numpy(), module.b_col.detach().double().numpy(),
    )
    assert out.shape == ref.shape == shape
    assert out.dtype == (np.float64 if dtype == torch.float64 else np.float32)
    np.testing.assert_allclose(out, ref, rtol=TOLERANCE[dtype], atol=TOLERANCE[dtype])


def test_strip_projection_starts_as_strip_pooling() -> None:
    x = torch.rand(2, 3, 6, 10, dtype=torch.float64)
    out = StripProjection(3, 6, 10).double()(x)
    expected = x.mean(dim=3, keepdim=True) * x.mean(dim=2, keepdim=True)
    torch.testing.assert_close(out, expected, rtol=1e-6, atol=1e-6)  # weights initialised in float32


def test_strip_projection_has_four_trainable_tensors_and_gradients() -> None:
    module = StripProjection(4, 8, 12)
    assert {name: tuple(p.shape) for name, p in module.named_parameters()} == {
        "w_row": (4, 8), "b_row": (4,), "w_col": (4, 12), "b_col": (4,),
    }
    module(torch.rand(2, 4, 8, 12)).square().sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in module.parameters())


def _kernels() -> list[tuple[str, np.ndarray | None, int]]:
    rng = np.random.default_rng(5)
    return [
        ("mean3", None, 3),
        ("mean5", None, 5),
        ("identity1", None, 1),
        ("random5", rng.uniform(0, 2, (5, 5)), 5),
        ("cross3", np.array([[0, 1, 0], [1, 4, 1], [0, 1, 0]], float), 3),
    ]


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("epsilon", [0.0, 0.2, 0.5])
@pytest.mark.parametrize("label, kernel, size", _kernels(), ids=[k[0] for k in _kernels()])
@pytest.mark.parametrize("shape", [(1, 1, 1, 1), (2, 1, 7, 5), (1, 1, 16, 33), (3, 1, 4, 4)])
def test_pixel_confidence_matches_reference(shape, label, kernel, size, epsilon, dtype) -> None:
    rng = np.random.default_rng(shape[2] * 31 + shape[3])
    y = rng.uniform(0, 1, shape)
    y[rng.uniform(0, 1, shape) < 0.3] = 1.0
    pcm = PixelConfidence(size, kernel=kernel, epsilon=epsilon).to(dtype)
    ref_kernel = mean_kernel(size) if kernel is None else kernel
    y_t = torch.from_numpy(y).to(dtype)
    out = pcm(y_t).numpy()
    np.testing.assert_allclose(out, pixel_confidence(y, ref_kernel, epsilon), rtol=0, atol=TOLERANCE[dtype])
    np.testing.assert_allclose(pcm.m_ipc(y_t).numpy(), confidence_map(y, ref_kernel), rtol=0, atol=TOLERANCE[dtype])
    assert out.min() >= 0.0 and out.max() <= 1.0


def test_pcm_fills_a_one_pixel_gap() -> None:
    y = torch.ones(1, 1, 7, 7)
    y[0, 0, 3, 3] = 0.45
    assert float(PixelConfidence()(y)[0, 0, 3, 3]) >= 0.5


def test_pcm_does_not_grow_an_isolated_pixel() -> None:
    y = torch.zeros(1, 1, 7, 7)
    y[0, 0, 3, 3] = 0.55
    out = PixelConfidence()(y)
    assert float(out[0, 0, 3, 3]) < 0.5
    assert float(out.max()) < 0.5


def test_pcm_uses_zero_padding_at_the_border() -> None:
    y = torch.ones(1, 1, 4, 4)
    m = PixelConfidence().m_ipc(y)[0, 0]
    assert float(m[0, 0]) == pytest.approx(4 / 9)
    assert float(m[0, 1]) == pytest.approx(6 / 9)
    assert float(m[1, 1]) == pytest.approx(1.0)


def test_pcm_kernel_is_a_fixed_buffer_outside_the_state_dict() -> None:
    pcm = PixelConfidence(5)
    assert list(pcm.parameters()) == []
    assert "kernel" in dict(pcm.named_buffers())
    assert pcm.state_dict() == {}
    assert float(pcm.kernel.sum()) == pytest.approx(1.0)
    assert tuple(pcm.kernel.shape) == (5, 5)


@pytest.mark.parametrize(
    "kwargs",
    [dict(kernel_size=4), dict(kernel=[[1.0, 2.0]]), dict(kernel=[[-1.0, 0, 0]] * 3), dict(epsilon=1.0)],
)
def test_pcm_rejects_bad_settings(kwargs) -> None:
    with pytest.raises(ValueError):
        PixelConfidence(**kwargs)
