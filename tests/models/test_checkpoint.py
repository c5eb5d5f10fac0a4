"""Checkpoints: round trip through the registry, fp16 storage, one-line errors naming the file."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from edgeinspect.errors import EdgeInspectError
from edgeinspect.models import create_model, load_checkpoint, save_checkpoint
from edgeinspect.models.checkpoint import read_checkpoint


@pytest.fixture(scope="module")
def trained() -> torch.nn.Module:
    torch.manual_seed(1)
    model = create_model("lpcnet-lite", input_size=(64, 128))
    with torch.no_grad():                      # move the weights and BN statistics off their init
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
        model.train()
        model(torch.rand(2, 1, 64, 128) * 255)
    return model.eval()


def test_round_trip_gives_the_same_outputs(trained, tmp_path) -> None:
    extra = {"epoch": 3, "mIoU": np.float32(0.5), "data": tmp_path}
    path = save_checkpoint(tmp_path / "sub" / "best.pt", trained, extra=extra)
    raw = read_checkpoint(path)
    assert raw["arch"] == "lpcnet-lite" and raw["kwargs"] == {"input_size": (64, 128)}
    assert raw["cfg"]["input_size"] == (1, 64, 128) and raw["weights_dtype"] == "float32"
    model, extra = load_checkpoint(path)
    assert extra == {"epoch": 3, "mIoU": 0.5, "data": str(tmp_path)}
    assert not model.training and model.arch == "lpcnet-lite"
    x = torch.rand(1, 1, 64, 128) * 255
    with torch.no_grad():
        a, b = trained(x), model(x)
    assert torch.equal(a.prob, b.prob) and torch.equal(a.loc, b.loc)


def test_half_checkpoint_is_smaller_and_close(trained, tmp_path) -> None:
    full = save_checkpoint(tmp_path / "full.pt", trained)
    half = save_checkpoint(tmp_path / "half.pt", trained, half=True)
    assert half.stat().st_size < 0.6 * full.stat().st_size
    model, _ = load_checkpoint(half)
    assert next(model.parameters()).dtype == torch.float32
    x = torch.rand(1, 1, 64, 128) * 255
    with torch.no_grad():
        torch.testing.assert_close(model(x).prob, trained(x).prob, atol=2e-2, rtol=0)


def test_missing_file_names_it(tmp_path) -> None:
    with pytest.raises(EdgeInspectError, match="nope.pt: checkpoint not found"):
        load_checkpoint(tmp_path / "nope.pt")


def test_a_run_folder_given_for_the_checkpoint_names_its_best_pt(tmp_path) -> None:
    (tmp_path / "best.pt").write_bytes(b"")
    with pytest.raises(EdgeInspectError) as error:
        load_checkpoint(tmp_path)
    assert str(error.value) == (f"{tmp_path}: is a folder; pass the .pt file written by 'edgeinspect train' "
                                f"({tmp_path / 'best.pt'})")


def test_garbage_file_names_it(tmp_path) -> None:
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint at all")
    with pytest.raises(EdgeInspectError, match="bad.pt: not a readable edgeinspect checkpoint"):
        load_checkpoint(bad)


@pytest.mark.parametrize("content, reason", [
    (b"hello\n", r"KeyError"),  # the weights-only unpickler raises what the bytes make it raise
    (b"", r"EOFError"),
])
def test_any_bytes_are_a_one_line_error_not_a_traceback(tmp_path, content, reason) -> None:
    path = tmp_path / "odd.pt"
    path.write_bytes(content)
    with pytest.raises(EdgeInspectError, match=f"odd.pt: not a readable edgeinspect checkpoint \\({reason}"):
        read_checkpoint(path)


def test_a_pickle_of_objects_is_refused_without_torchs_advice(tmp_path) -> None:
    path = tmp_path / "objects.pt"
    torch.save({"arch": "x", "loader": open}, path)
    with pytest.raises(EdgeInspectError) as info:
        read_checkpoint(path)
    assert str(info.value) == (f"{path}: not a readable edgeinspect checkpoint "
                               "(a pickle holding more than tensors and plain values)")


def test_foreign_dict_and_unknown_arch_name_the_file(tmp_path) -> None:
    foreign = tmp_path / "foreign.pt"
    torch.save({"model": {}}, foreign)
    with pytest.raises(EdgeInspectError, match="foreign.pt: not an edgeinspect checkpoint"):
        load_checkpoint(foreign)
    unknown = tmp_path / "unknown.pt"
    torch.save({"arch": "unet", "kwargs": {}, "cfg": {}, "state_dict": {}}, unknown)
    with pytest.raises(EdgeInspectError, match="unknown.pt: unknown model 'unet'"):
        load_checkpoint(unknown)


def test_weights_of_another_size_name_the_file(trained, tmp_path) -> None:
    path = save_checkpoint(tmp_path / "tile.pt", trained)
    raw = torch.load(path, weights_only=True)
    raw["kwargs"] = {"input_size": (64, 64)}          # strip-projection weights no longer fit
    torch.save(raw, path)
    with pytest.raises(EdgeInspectError, match="tile.pt: weights do not fit model lpcnet-lite"):
        load_checkpoint(path)
