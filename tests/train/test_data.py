"""Training data: bit-depth scaling, resize rules, deterministic augmentation and batch order."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from edgeinspect.data.datasets import open_dataset
from edgeinspect.train.data import (
    SegmentationSet,
    augment_sample,
    make_loader,
    prepare_sample,
    subset_indices,
    to_8bit_range,
)
from edgeinspect.train.recipe import AugmentCfg

torch.set_num_threads(1)


def test_bit_depths_scale_to_the_8bit_range():
    np.testing.assert_array_equal(to_8bit_range(np.array([[0, 255]], np.uint8)), [[0.0, 255.0]])
    np.testing.assert_allclose(to_8bit_range(np.array([[0, 4095, 2048]], np.uint16)), [[0, 255, 2048 * 255 / 4095]],
                               rtol=1e-6)
    np.testing.assert_allclose(to_8bit_range(np.array([[0, 65535]], np.uint16)), [[0, 255]])
    np.testing.assert_allclose(to_8bit_range(np.array([[4095]], np.uint16), bit_depth=16), [[4095 * 255 / 65535]],
                               rtol=1e-6)
    with pytest.raises(ValueError):
        to_8bit_range(np.zeros((2, 2), np.float32))


def test_prepare_resizes_image_by_area_and_mask_nearest():
    image = np.zeros((40, 60), np.uint8)
    image[:, 30:] = 200
    mask = np.zeros((40, 60), bool)
    mask[10:20, 0:30] = True
    small, small_mask = prepare_sample(image, mask, (20, 30))
    assert small.shape == (20, 30) and small.dtype == np.uint8
    assert small_mask.shape == (20, 30) and small_mask.dtype == bool
    assert set(np.unique(small)) == {0, 200}
    assert small_mask.sum() == 5 * 15
    wide, wide_mask = prepare_sample(np.full((10, 10), 4095, np.uint16), np.ones((10, 10), bool), (16, 16))
    assert wide.dtype == np.float32 and np.allclose(wide, 255.0) and wide_mask.all()


def test_augmentation_flips_image_mask_and_label_together():
    image = np.arange(16, dtype=np.float32).reshape(4, 4)
    mask = (image > 10).astype(np.float32)
    loc = (image > 8).astype(np.float32)
    cfg = AugmentCfg(enabled=True, flip_h=True, flip_v=True, brightness=0.0, contrast=0.0)
    seen = set()
    for seed in range(20):
        out_image, out_mask, out_loc = augment_sample(image, mask, loc, np.random.default_rng(seed), cfg)
        np.testing.assert_array_equal(out_mask, (out_image > 10))
        np.testing.assert_array_equal(out_loc, (out_image > 8))
        seen.add(tuple(out_image[0, :2]))
    assert len(seen) == 4  # identity, h, v, hv all drawn
    off = AugmentCfg(enabled=False)
    assert augment_sample(image, mask, loc, np.random.default_rng(0), off)[0] is image


def test_brightness_contrast_stay_in_range_and_only_touch_the_image():
    image = np.full((8, 8), 250.0, np.float32)
    mask = np.ones((8, 8), np.float32)
    cfg = AugmentCfg(enabled=True, flip_h=False, flip_v=False, brightness=0.5, contrast=0.5)
    changed = 0
    for seed in range(10):
        out, out_mask, _ = augment_sample(image, mask, mask, np.random.default_rng(seed), cfg)
        assert out.min() >= 0 and out.max() <= 255
        np.testing.assert_array_equal(out_mask, mask)
        changed += not np.allclose(out, image)
    assert changed >= 5


def test_subset_indices_are_seeded_and_capped():
    assert subset_indices(5, None, 0) == [0, 1, 2, 3, 4]
    assert subset_indices(5, 9, 0) == [0, 1, 2, 3, 4]
    picked = subset_indices(100, 7, 3)
    assert len(picked) == 7 == len(set(picked)) and picked == sorted(picked)
    assert picked == subset_indices(100, 7, 3) and picked != subset_indices(100, 7, 4)


def test_set_yields_scaled_tensors_and_same_batches_for_the_same_seed_and_epoch(square_pairs: Path):
    split = open_dataset(square_pairs).split("all")
    dataset = SegmentationSet(split, input_hw=(32, 32), augment=AugmentCfg(), seed=1, loc_labels=False)
    item = dataset[0]
    assert item["image"].shape == (1, 32, 32) and item["image"].dtype == torch.float32
    assert 0 <= float(item["image"].min()) and float(item["image"].max()) <= 255
    assert set(torch.unique(item["mask"]).tolist()) <= {0.0, 1.0}

    def batches(epoch: int) -> list[torch.Tensor]:
        loader = make_loader(dataset, batch=4, shuffle=True, seed=1, epoch=epoch)
        return [torch.cat([b["index"].float(), b["image"].flatten()]) for b in loader]

    first, again, other = batches(0), batches(0), batches(1)
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    assert not all(torch.equal(a, b) for a, b in zip(first, other))
    assert sum(len(b) for b in batches(0)) > 0


def test_single_image_last_batch_is_dropped_when_training(square_pairs: Path):
    dataset = SegmentationSet(open_dataset(square_pairs).split("all"), input_hw=(16, 16), loc_labels=False)
    sizes = [len(b["index"]) for b in make_loader(dataset, batch=3, shuffle=True)]
    assert sizes == [3, 3, 3]  # 10 = 3 + 3 + 3 + 1: the lone image is dropped
    assert [len(b["index"]) for b in make_loader(dataset, batch=3, shuffle=False)] == [3, 3, 3, 1]


def test_loc_label_is_the_rectangle_label_of_the_resized_mask_and_flips_with_it(square_pairs: Path):
    from edgeinspect.models.labels import rectangle_labels

    split = open_dataset(square_pairs).split("all")
    plain = SegmentationSet(split, input_hw=(32, 32), augment=None)
    flipped = SegmentationSet(split, input_hw=(32, 32), seed=0,
                              augment=AugmentCfg(flip_h=True, flip_v=False, brightness=0.0, contrast=0.0))
    _, mask = prepare_sample(split[0].image, split[0].mask, (32, 32))
    item = plain[0]
    np.testing.assert_array_equal(item["loc"][0].numpy() > 0, rectangle_labels(mask))
    assert item["loc"].sum() >= item["mask"].sum() > 0  # the rectangle covers the square
    for epoch in range(6):
        flipped.set_epoch(epoch)
        out = flipped[0]
        assert torch.equal(out["mask"], item["mask"]) or torch.equal(out["mask"], item["mask"].flip(-1))
        same = torch.equal(out["mask"], item["mask"])
        assert torch.equal(out["loc"], item["loc"] if same else item["loc"].flip(-1))
