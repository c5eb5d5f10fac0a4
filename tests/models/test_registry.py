"""Registry: names, lookup, errors."""

from __future__ import annotations

import pytest

from edgeinspect.errors import EdgeInspectError
from edgeinspect.models import DEFAULT_MODEL, create_model, is_model, list_models, register_model


def test_lpcnet_variants_are_registered() -> None:
    assert {"lpcnet", "lpcnet-lite"} <= set(list_models())
    assert list_models("lpcnet*") == ["lpcnet", "lpcnet-lite"]
    assert list_models("*lite") == ["lpcnet-lite"]
    assert DEFAULT_MODEL in list_models()
    assert is_model("lpcnet_lite") and not is_model("unet")


def test_unknown_name_lists_the_valid_ones() -> None:
    with pytest.raises(EdgeInspectError, match="unknown model 'unet'.*lpcnet, lpcnet-lite"):
        create_model("unet")


def test_unknown_option_is_a_user_error() -> None:
    with pytest.raises(EdgeInspectError, match="lpcnet-lite.*colour"):
        create_model("lpcnet-lite", colour=True)


def test_duplicate_registration_raises() -> None:
    def lpcnet():  # same name as the registered entry point
        raise AssertionError("never called")

    with pytest.raises(ValueError, match="already registered"):
        register_model(lpcnet)


def test_create_model_records_arch_and_kwargs() -> None:
    model = create_model("lpcnet_lite", input_size=(64, 128))
    assert model.arch == "lpcnet-lite"
    assert model.init_kwargs == {"input_size": (64, 128)}
    assert model.default_cfg["input_size"] == (1, 64, 128)
    assert model.default_cfg["name"] == "lpcnet-lite"
    assert model.default_cfg["outputs"] == ("prob", "loc")
    assert model.default_cfg["size_multiple"] == 16


def test_bad_input_size_names_the_rule() -> None:
    with pytest.raises(EdgeInspectError, match="multiples of 16"):
        create_model("lpcnet-lite", input_size=(100, 256))
