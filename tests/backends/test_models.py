"""The model registry: names, parts, weights on disk (fp16 safetensors) and their errors."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors import safe_open

from streamdeblur import models
from streamdeblur.errors import MissingWeightsError, UserError
from streamdeblur.nets.common import count_parameters
from streamdeblur.models import (
    build_parts,
    get_spec,
    inference_module,
    list_models,
    load_model,
    load_weights,
    save_weights,
    state_hash,
)

EXPECTED = {"fast", "fast-unet", "naf", "naf-hd", "naf-shake", "naf-deep", "naf-wide", "naf-t3", "naf-t3f", "naf-t3m", "naf-t3m-hd", "naf-t5f", "hg", "hg-cgan", "hg-half", "hg-cgan-half", "hg-cgan-fast", "hg-cgan-res", "cgan",
            "multiscale", "multiscale-fast"}
PARTS = {"fast": {"hg"}, "fast-unet": {"g"}, "naf": {"g"}, "naf-hd": {"g"}, "naf-shake": {"g"}, "naf-deep": {"g"}, "naf-wide": {"g"}, "naf-t3": {"g"}, "naf-t3f": {"g"}, "naf-t3m": {"g"}, "naf-t3m-hd": {"g"}, "naf-t5f": {"g"}, "hg": {"hg"}, "hg-cgan": {"hg", "g", "d"}, "hg-half": {"hg"}, "hg-cgan-half": {"hg", "g", "d"},
         "hg-cgan-fast": {"hg", "g", "d"}, "hg-cgan-res": {"hg", "g", "d"},
         "cgan": {"g", "d"}, "multiscale": {"g", "d"}, "multiscale-fast": {"g", "d"}}


def test_registry_lists_the_models():
    assert set(list_models()) == EXPECTED | {"identity"}
    identity = get_spec("identity")  # the pass-through is a registered entry: nothing to train or load
    assert not identity.exportable and identity.stages == () and models.has_weights("identity")
    x = torch.rand(2, 3, 128, 128)
    assert torch.equal(load_model("identity")(x), x)
    assert get_spec("naf-t3").frames == 3 and get_spec("naf").frames == 1
    assert get_spec("naf-t3f").align == "flow" and get_spec("naf-t3").align == "landmarks"
    assert get_spec("naf-t3m").align == "centre" and get_spec("naf-t3m").frames == 3
    assert get_spec("hg-cgan").input_size == 256 and get_spec("fast").input_size == 128
    assert get_spec("naf-t3m-hd").input_size == 256 and get_spec("naf-t3m-hd").align == "centre"
    # the half-width variants keep the layer layout with a quarter of the parameters
    full, half = build_parts("hg-cgan"), build_parts("hg-cgan-half")
    for key in ("hg", "g"):
        n_full, n_half = (count_parameters(parts[key]) for parts in (full, half))
        assert 0.2 < n_half / n_full < 0.3
        assert len(list(full[key].modules())) == len(list(half[key].modules()))


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_model_builds_and_maps_unit_images_to_unit_images(name):
    spec = get_spec(name)
    parts = build_parts(name)
    assert set(parts) == PARTS[name]
    module = inference_module(name, parts).eval()
    # The inference module holds the parts' own parameter tensors (nothing copied).
    own = {p.data_ptr() for p in module.parameters()}
    used = {p.data_ptr() for key, part in parts.items() if key != "d" for p in part.parameters()}
    assert own <= used
    if name in ("hg-cgan", "hg-cgan-half", "hg-cgan-fast", "hg-cgan-res", "cgan"):
        assert own.isdisjoint(p.data_ptr() for p in parts["g"].enc_s.parameters())  # G_s is training only
    x = torch.rand(1, 3 * spec.frames, spec.input_size, spec.input_size)
    with torch.inference_mode():
        y = module(x)
    assert y.shape == (1, 3, spec.input_size, spec.input_size)
    assert y.min() >= 0 and y.max() <= 1


def test_unknown_model_is_a_user_error_listing_the_names():
    with pytest.raises(UserError) as info:
        get_spec("nope")
    assert "nope" in str(info.value) and all(n in str(info.value) for n in EXPECTED)
    with pytest.raises(UserError):
        load_model("nope", allow_random=True)


def test_missing_weights_names_the_file_and_how_to_get_them():
    with pytest.raises(MissingWeightsError) as info:
        load_model("fast")
    message = str(info.value)
    assert str(get_spec("fast").weights_path) in message
    assert "streamdeblur train --model fast" in message and "--weights" in message
    assert "\n" not in message


def test_weights_path_that_does_not_exist_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="not found"):
        load_model("fast", weights=tmp_path / "missing.safetensors")


def test_random_weights_are_reproducible_and_leave_the_global_rng_alone():
    torch.manual_seed(123)
    expected_next = torch.rand(1)
    torch.manual_seed(123)
    a = load_model("fast", allow_random=True)
    assert torch.equal(torch.rand(1), expected_next)
    b = load_model("fast", allow_random=True)
    assert state_hash(a) == state_hash(b)
    assert not a.training


def test_save_load_round_trip_in_fp16(tmp_path):
    module = load_model("fast", allow_random=True)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(torch.randn_like(p) * 0.01)
    path = save_weights(module, get_spec("fast").weights_path, {"steps": 1200, "arch": "hg"})
    assert [p.name for p in path.parent.iterdir()] == ["model.safetensors"]  # no temp file left
    with safe_open(str(path), framework="pt") as f:
        dtypes = {f.get_tensor(k).dtype for k in f.keys()}
        assert json.loads(f.metadata()["steps"]) == 1200 and f.metadata()["arch"] == "hg"
    assert torch.float16 in dtypes and torch.float32 not in dtypes
    loaded = load_model("fast")  # found in the engines dir, upcast to fp32
    for (key, want), got in zip(module.state_dict().items(), loaded.state_dict().values()):
        assert got.dtype == want.dtype, key
        expected = want.half().to(want.dtype) if want.is_floating_point() else want
        assert torch.equal(got, expected), key
    assert load_weights(loaded, path)["arch"] == "hg"


def test_weights_of_another_model_do_not_fit(tmp_path):
    path = save_weights(load_model("fast", allow_random=True), tmp_path / "fast.safetensors")
    with pytest.raises(UserError, match="do not fit"):
        load_model("multiscale-fast", weights=path)
    (tmp_path / "junk.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(UserError, match="cannot read"):
        load_model("fast", weights=tmp_path / "junk.safetensors")


def test_trained_parts_load_from_a_released_single_step_model(tmp_path):
    """A released `hg` fills the hg part of the two-step model's training parts."""
    hg_parts = {"hg": models.HG(width=0.125, stacks=1, depth=2)}
    released = save_weights(models.ImageModel(hg_parts["hg"], 64), tmp_path / "hg.safetensors")
    target = {"hg": models.HG(width=0.125, stacks=1, depth=2)}
    load_weights(models.ImageModel(target["hg"], 64), released)
    for a, b in zip(hg_parts["hg"].state_dict().values(), target["hg"].state_dict().values()):
        assert torch.equal(a.half().to(a.dtype) if a.is_floating_point() else a, b)


def test_a_model_without_weights_of_its_own_runs_those_it_names():
    """naf-t3m-hd runs naf-t3m's released weights at 256 px until weights of its own are released beside its card."""
    spec, base = get_spec("naf-t3m-hd"), get_spec("naf-t3m")
    assert spec.weights_of == spec.weights_owner == "naf-t3m" and spec.weights_path == base.weights_path
    assert not models.has_weights("naf-t3m-hd")  # the test engines folder starts empty
    base.weights_path.parent.mkdir(parents=True)
    save_weights(inference_module("naf-t3m", build_parts("naf-t3m")), base.weights_path)
    assert models.has_weights("naf-t3m-hd")
    module = load_model("naf-t3m-hd")
    assert state_hash(module) == state_hash(load_model("naf-t3m"))
    with torch.inference_mode():
        assert module(torch.rand(1, 9, 256, 256)).shape == (1, 3, 256, 256)
    # once released (engines/naf-t3m-hd/model.safetensors), its own file is the one
    own = models.engine_folder("naf-t3m-hd") / "model.safetensors"
    own.parent.mkdir()
    save_weights(inference_module("naf-t3m-hd", build_parts("naf-t3m-hd")), own)
    assert spec.weights_owner == "naf-t3m-hd" and spec.weights_path == own
    assert state_hash(load_model("naf-t3m-hd")) != state_hash(module)
