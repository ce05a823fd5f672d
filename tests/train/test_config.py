"""TrainConfig: JSON round trip, `key=value` overrides, precedence, bad values."""

from __future__ import annotations

import pytest

from streamdeblur.errors import UserError
from streamdeblur.train.config import TrainConfig
from streamdeblur.train.stages import build_config


def test_json_round_trip(tmp_path):
    cfg = TrainConfig(name="x", model="hg-cgan", stage="cgan", betas=(0.5, 0.99), methods=["vla", "pravg7"], steps=7)
    path = cfg.save(tmp_path / "c.json")
    assert TrainConfig.load(path) == cfg


def test_override_parsing():
    cfg = TrainConfig().override(["lr=1e-3", "betas=0.9,0.99", "amp=false", "methods=vla,pravg", "name=abc",
                                  "batch-size=4", "w_l1=5"])
    assert cfg.lr == 1e-3 and cfg.betas == (0.9, 0.99) and cfg.amp is False
    assert cfg.methods == ["vla", "pravg"] and cfg.name == "abc" and cfg.batch_size == 4
    assert isinstance(cfg.w_l1, float) and cfg.w_l1 == 5.0
    assert TrainConfig().override(["betas=[0.1, 0.2]"]).betas == (0.1, 0.2)


@pytest.mark.parametrize("item", ["nokey", "steps=abc", "steps=1.5", "amp=maybe", "betas=1", "colour=red"])
def test_bad_overrides(item):
    with pytest.raises(UserError):
        TrainConfig().override([item])


def test_validate_rejects_bad_values():
    for kw in ({"stage": "x"}, {"variant": "x"}, {"steps": 0}, {"ema_decay": 1.0}, {"gan_loss": "w"}):
        with pytest.raises(UserError):
            TrainConfig(**kw).validate()


def test_build_config_precedence(tmp_path):
    # stage defaults apply without a file: the single stage uses Adam betas (0.9, 0.999) and w_l1 1
    single = build_config(None, ["stage=single"])
    assert single.betas == (0.9, 0.999) and single.w_l1 == 1.0
    # the cGAN keeps the paper's defaults
    cgan = build_config(None, None, model="hg-cgan", stage="cgan")
    assert cgan.betas == (0.5, 0.999) and (cgan.w_l1, cgan.w_grad, cgan.w_proj, cgan.w_recon) == (100, 100, 8, 100)
    path = TrainConfig(steps=11, lr=0.5, model="hg-cgan", stage="cgan").save(tmp_path / "c.json")
    cfg = build_config(path, ["lr=0.25"], steps=None, batch_size=3)
    assert (cfg.steps, cfg.lr, cfg.batch_size) == (11, 0.25, 3)
    with pytest.raises(UserError, match="not found"):
        build_config(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(UserError, match="not valid JSON"):
        build_config(tmp_path / "bad.json")


def test_the_model_names_its_stage_and_a_mismatch_is_one_error():
    assert build_config(None, None, model="hg-cgan").stage == "cgan"
    assert build_config(None, None, model="multiscale-fast").stage == "multiscale"
    naf = build_config(None, None, model="naf")  # the restore stage and its recipe's defaults
    assert (naf.stage, naf.optimizer, naf.lr_schedule, naf.loss, naf.betas) == ("restore", "adamw", "cosine",
                                                                                "charbonnier", (0.9, 0.9))
    assert build_config(None, ["w_fft=0"], model="naf").w_fft == 0.0  # user values win over stage defaults
    with pytest.raises(UserError, match="trained with stage cgan"):
        build_config(None, None, model="hg-cgan", stage="single")
    with pytest.raises(UserError, match="unknown model"):
        build_config(None, None, model="nope")


def test_cli_defaults_match_the_library_defaults():
    """The train CLI declares no default of its own: every option is None (the config's value applies)."""
    import inspect

    from streamdeblur.cli import train

    for name, param in inspect.signature(train).parameters.items():
        default = getattr(param.default, "default", param.default)
        assert default in (None, False, []), (name, default)
    assert TrainConfig().model == __import__("streamdeblur").DEFAULT_MODEL


def test_every_stage_a_model_names_is_in_the_stage_table():
    from streamdeblur.models import get_spec, list_models
    from streamdeblur.train.stages import STAGES

    for name in list_models():
        assert set(get_spec(name).stages) <= set(STAGES), name


@pytest.mark.skipif(not __import__("streamdeblur.models", fromlist=["has_weights"]).has_weights("naf"),
                    reason="no released naf weights in engines/")
def test_a_released_single_frame_engine_warm_starts_its_temporal_model(tmp_path):
    """--set init_weights=engines/naf/model.safetensors on naf-t3: the first conv's centre-frame slice gets naf's
    weights, the other frames zeros, every other tensor naf's (a fresh machine has no .pt checkpoint)."""
    import torch
    from safetensors.torch import load_file

    from streamdeblur.models import get_spec, load_model
    from streamdeblur.train.stages import load_into

    path = get_spec("naf").weights_path
    released = load_file(str(path))
    temporal = load_model("naf-t3", None, True).net
    load_into(temporal, str(path), "g")
    own = temporal.state_dict()
    widened = [k for k, v in own.items() if v.dim() == 4 and v.shape[1] == 9]
    assert widened
    for k, v in own.items():
        ref = released["net." + k].float()
        if k in widened:
            assert torch.equal(v[:, 3:6], ref.to(v.dtype)) and not v[:, :3].any() and not v[:, 6:].any()
        else:
            assert torch.equal(v, ref.to(v.dtype)), k
