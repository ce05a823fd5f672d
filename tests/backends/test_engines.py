"""The engines: torch and onnxruntime agree, BGR/RGB handling, ONNX cache, auto choice, errors."""

from __future__ import annotations

import logging
import os

import numpy as np
import onnx
import pytest
import torch
from torch import nn

from streamdeblur import models
from streamdeblur.backends import IdentityEngine, create_engine, export_onnx, onnx_model_path
from streamdeblur.backends.common import to_nchw_rgb, to_nhwc_bgr
from streamdeblur.backends.onnx_backend import OnnxEngine, export_checked
from streamdeblur.backends.tensorrt_backend import tensorrt_available
from streamdeblur.backends.torch_backend import TorchEngine
from streamdeblur.errors import MissingDependencyError, MissingWeightsError, UserError
from streamdeblur.nets import HG, Generator, ImageModel, TwoStep


def _random_crops(n: int, size: int = 128, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, 3), dtype=np.uint8)


def _diff(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.abs(a.astype(np.int16) - b.astype(np.int16))


class RedEverywhere(nn.Module):
    """Copies the R channel of an RGB [0, 1] image into all three: exposes channel order."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, :1].expand(-1, 3, -1, -1).clone()


def _coloured(size: int = 32) -> np.ndarray:
    crops = np.zeros((2, size, size, 3), np.uint8)
    crops[0, ..., 2] = 200  # BGR: pure red
    crops[1, ..., 0] = 200  # BGR: pure blue
    return crops


def test_conversion_round_trip_and_channel_order():
    crops = _random_crops(3, 32)
    x = to_nchw_rgb(crops)
    assert x.shape == (3, 3, 32, 32) and x.dtype == np.float32 and x.flags.c_contiguous
    assert np.allclose(x[:, 0] * 255, crops[..., 2])  # R first
    assert np.array_equal(to_nhwc_bgr(x), crops)


@pytest.mark.parametrize("kind", ["torch", "onnxruntime"])
def test_engines_feed_rgb_to_the_network(kind, tmp_path):
    module = ImageModel(RedEverywhere(), 32)
    if kind == "torch":
        engine = TorchEngine(module, 32, torch.device("cpu"))
    else:
        engine = OnnxEngine(export_checked(module, 32, tmp_path / "red.onnx"), 32, threads=1)
    out = engine(_coloured())
    assert np.all(out[0] == 200) and np.all(out[1] == 0)


@pytest.mark.parametrize("name", ["fast", "multiscale-fast"])
def test_torch_and_onnxruntime_agree(name, face_crops):
    torch_engine = create_engine(name, backend="torch", allow_random=True)
    ort_engine = create_engine(name, backend="onnxruntime", allow_random=True, threads=1)
    assert (torch_engine.name, ort_engine.name) == ("torch-cpu", "onnxruntime-cpu")
    for crops in (face_crops, _random_crops(2)):
        a, b = torch_engine(crops), ort_engine(crops)
        assert a.shape == crops.shape and a.dtype == np.uint8 and b.shape == crops.shape and b.dtype == np.uint8
        assert _diff(a, b).max() <= 1 and _diff(a, b).mean() < 0.05
        assert _diff(a, crops).mean() > 1  # the random network does change the image
    # Dynamic batch: one crop at a time gives the same result as the batch.
    assert _diff(np.concatenate([ort_engine(face_crops[i : i + 1]) for i in range(len(face_crops))]),
                 ort_engine(face_crops)).max() <= 1


def test_the_engines_run_naf_folded_and_restore_as_its_network_does(tmp_path, face_crops):
    """Both backends run NAFNet.folded (models.inference_form): naf's faces as the network as trained gives them,
    within a grey level, from an ONNX graph without the ops folding removes."""
    module = models.load_model("naf", allow_random=True)
    torch.manual_seed(0)
    with torch.no_grad():  # skip-init's zeros (beta, gamma, the ending) would leave every block out
        for p in module.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    weights = models.save_weights(module, tmp_path / "naf.safetensors")
    want = TorchEngine(module, 128, torch.device("cpu"))(face_crops)
    assert _diff(want, face_crops).mean() > 1  # the network changes the faces
    engines = [create_engine("naf", backend=b, threads=1, weights=weights) for b in ("torch", "onnxruntime")]
    for engine in engines:
        assert _diff(engine(face_crops), want).max() <= 1
    ops = {node.op_type for node in onnx.load(str(engines[1].path)).graph.node}
    assert "Conv" in ops and not ops & {"DepthToSpace", "Pow"}


def test_torch_and_onnxruntime_agree_on_a_two_step_model(monkeypatch, face_crops):
    """A small HG + G_bl composition through the registry (the paper's full model, scaled down)."""
    small = models._spec(
        "tiny-two-step", "hg+cgan", 128, "test-only",
        lambda: {"hg": HG(width=0.125, stacks=1, depth=3), "g": Generator(width=0.0625)},
        lambda p: ImageModel(TwoStep(p["hg"], p["g"].bl_pathway()), 128),
    )
    monkeypatch.setitem(models._SPECS, small.name, small)
    a = create_engine(small.name, backend="torch", allow_random=True)(face_crops)
    b = create_engine(small.name, backend="onnxruntime", allow_random=True, threads=1)(face_crops)
    assert _diff(a, b).max() <= 1


def test_channels_last_does_not_change_the_result(face_crops):
    a = create_engine("fast", backend="torch", allow_random=True, channels_last=True)(face_crops)
    b = create_engine("fast", backend="torch", allow_random=True, channels_last=False)(face_crops)
    assert _diff(a, b).max() <= 1


def test_onnx_export_is_cached_and_reused():
    first = onnx_model_path("fast", allow_random=True)
    stamp = first.stat().st_mtime_ns
    engine = create_engine("fast", backend="onnxruntime", allow_random=True)
    assert engine.path == first and first.stat().st_mtime_ns == stamp
    assert first.parent.name == "onnx" and first.name.startswith("fast-")
    assert sorted(p.name for p in first.parent.iterdir() if p.name.startswith("fast-")) == [first.name]


def test_new_weights_get_a_new_onnx_file(tmp_path):
    module = models.load_model("fast", allow_random=True)
    with torch.no_grad():
        next(module.parameters()).add_(0.5)
    weights = models.save_weights(module, tmp_path / "other.safetensors")
    assert onnx_model_path("fast", weights=weights) != onnx_model_path("fast", allow_random=True)


def test_export_onnx_writes_a_valid_dynamic_batch_model(tmp_path):
    out = export_onnx("fast", tmp_path / "fast.onnx", allow_random=True)
    proto = onnx.load(str(out))
    onnx.checker.check_model(proto)
    dims = proto.graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param and [d.dim_value for d in dims[1:]] == [3, 128, 128]
    assert [p.name for p in tmp_path.iterdir()] == ["fast.onnx"]
    with pytest.raises(UserError, match="directory"):
        export_onnx("fast", tmp_path, allow_random=True)


def test_engine_input_checks_and_empty_batch():
    engine = create_engine("fast", backend="torch", allow_random=True)
    assert engine(np.zeros((0, 128, 128, 3), np.uint8)).shape == (0, 128, 128, 3)
    with pytest.raises(ValueError, match="128 x 128 x 3 uint8"):
        engine(np.zeros((1, 64, 64, 3), np.uint8))
    with pytest.raises(ValueError):
        engine(np.zeros((1, 128, 128, 3), np.float32))


def test_auto_picks_onnxruntime_on_a_cpu_machine():
    if torch.cuda.is_available():
        pytest.skip("CUDA present: auto picks tensorrt or torch-cuda here")
    engine = create_engine("fast", allow_random=True)
    assert engine.name == "onnxruntime-cpu" and engine.input_size == 128


def test_fp16_on_cpu_falls_back_to_fp32_with_a_warning(caplog):
    with caplog.at_level(logging.WARNING):
        engine = create_engine("fast", backend="torch", device="cpu", fp16=True, allow_random=True)
    assert engine.name == "torch-cpu" and "fp16" in caplog.text


def test_option_errors_are_user_errors():
    with pytest.raises(UserError, match="unknown backend"):
        create_engine("fast", backend="tflite", allow_random=True)
    with pytest.raises(UserError, match="unknown model"):
        create_engine("nope")
    with pytest.raises(UserError, match="device"):
        create_engine("fast", backend="torch", device="gpu7", allow_random=True)
    with pytest.raises(MissingWeightsError, match="model.safetensors"):
        create_engine("fast", backend="torch")
    if not torch.cuda.is_available():
        with pytest.raises(UserError, match="CUDA"):
            create_engine("fast", backend="torch", device="cuda", allow_random=True)


def test_identity_engine_by_name():
    engine = create_engine("identity")
    crops = _random_crops(2)
    assert isinstance(engine, IdentityEngine) and engine(crops) is crops


class Recorder:
    """A 3-frame engine that keeps what it was given and returns the middle crops."""

    name, input_size, frames = "recorder", 128, 3

    def __call__(self, crops: np.ndarray) -> np.ndarray:
        self.seen = crops.copy()
        return np.ascontiguousarray(crops[..., 3:6])


def test_a_flow_aligned_model_gives_its_network_the_neighbours_warped_onto_the_middle_crop(face_crops,
                                                                                          monkeypatch):
    """naf-t3f's engine (any backend) is wrapped so that the network sees each stack as faces.flow.align_stack
    makes it, as its training groups were; naf-t3's is not wrapped."""
    from streamdeblur import backends
    from streamdeblur.faces.flow import align_stack, recuts

    # three consecutive frames of the moving portrait, one stack per face
    stacks = np.stack([np.concatenate([face_crops[i], face_crops[(i + 1) % 4], face_crops[(i + 2) % 4]], axis=2)
                       for i in range(4)])
    recorder = Recorder()
    monkeypatch.setattr(backends, "_create_engine", lambda model, **kwargs: recorder)
    engine = create_engine("naf-t3f", settle=None)
    assert isinstance(engine, backends.FlowAlignedEngine) and engine.frames == 3
    out = engine(stacks)
    assert np.array_equal(out, face_crops[[1, 2, 3, 0]])
    expected = np.stack([align_stack(s) for s in stacks])
    assert np.array_equal(recorder.seen, expected) and not np.array_equal(recorder.seen, stacks)
    assert engine(stacks[:0]).shape[0] == 0
    with pytest.raises(ValueError):
        engine(face_crops)  # one frame where three are needed
    plain = create_engine("naf-t3", settle=None)
    assert plain is recorder and plain.align == "landmarks" and not recuts(plain) and not recuts(engine)
    # naf-t3m's engine is not wrapped: Restorer re-cuts its stacks, told so by the engine's align
    centre = create_engine("naf-t3m", settle=None)
    assert centre is recorder and centre.align == "centre" and recuts(centre) and centre(stacks) is not None
    assert np.array_equal(recorder.seen, stacks)


@pytest.mark.skipif(tensorrt_available(), reason="torch-tensorrt and CUDA present")
def test_tensorrt_absent_gives_a_clear_one_line_error():
    with pytest.raises(MissingDependencyError) as info:
        create_engine("fast", backend="tensorrt", allow_random=True)
    message = str(info.value)
    assert "\n" not in message and ("CUDA" in message or "streamdeblur[tensorrt]" in message)


@pytest.mark.skipif(not tensorrt_available(), reason="needs torch-tensorrt and a CUDA GPU (absent here)")
def test_tensorrt_engine_matches_torch_and_is_cached(face_crops):
    engine = create_engine("fast", backend="tensorrt", fp16=True, allow_random=True)
    assert engine.name == "tensorrt-fp16" and engine.error <= 0.03
    reference = create_engine("fast", backend="torch", device="cuda", allow_random=True)
    assert _diff(engine(face_crops), reference(face_crops)).max() <= 8
    engine_cache = _tensorrt_cache()
    cached = sorted((p, p.stat().st_mtime_ns) for p in engine_cache.iterdir())
    assert cached
    create_engine("fast", backend="tensorrt", fp16=True, allow_random=True)
    assert sorted((p, p.stat().st_mtime_ns) for p in engine_cache.iterdir()) == cached


def _tensorrt_cache():
    from streamdeblur.paths import cache_dir

    return cache_dir() / "tensorrt"


def test_cache_dir_is_private_to_the_tests():
    assert os.environ["STREAMDEBLUR_CACHE"] != os.path.expanduser("~/.cache/streamdeblur")


def test_crops_per_second_measures_the_engine():
    from streamdeblur.backends import crops_per_second

    class Slow(IdentityEngine):
        def __call__(self, crops):
            import time

            time.sleep(0.02)
            return crops

    rate = crops_per_second(Slow(32), batch=4, repeats=3, warmup=0)
    assert 50 < rate <= 200  # 4 crops per >= 20 ms


def test_a_temporal_engine_takes_k_stacked_crops_on_every_backend(tmp_path, monkeypatch):
    """naf-t3 (K = 3): N x S x S x 9 uint8 in, N x S x S x 3 out; ONNX export keeps the dynamic batch; the
    backends agree; the BGR->RGB order is applied per frame."""
    import torch

    from streamdeblur.backends import create_engine, export_onnx
    from streamdeblur.models import build_parts, inference_module, save_weights

    monkeypatch.setenv("STREAMDEBLUR_CACHE", str(tmp_path / "cache"))
    torch.manual_seed(0)
    parts = build_parts("naf-t3")
    for p in parts["g"].parameters():  # not the identity that skip-init starts from
        p.data.normal_(0, 0.02)
    weights = save_weights(inference_module("naf-t3", parts), tmp_path / "naf-t3.safetensors")
    crops = np.random.default_rng(0).integers(0, 256, (3, 128, 128, 9), dtype=np.uint8)
    outs = {}
    for backend in ("torch", "onnxruntime"):
        engine = create_engine("naf-t3", backend=backend, device="cpu", weights=weights)
        assert engine.frames == 3 and engine.model == "naf-t3"
        outs[backend] = engine(crops)
        assert outs[backend].shape == (3, 128, 128, 3) and outs[backend].dtype == np.uint8
        with pytest.raises(ValueError, match="9 uint8"):
            engine(crops[..., :3])
    assert np.abs(outs["torch"].astype(int) - outs["onnxruntime"].astype(int)).max() <= 1
    path = export_onnx("naf-t3", tmp_path / "t3.onnx", weights=weights)
    import onnx

    dims = onnx.load(str(path)).graph.input[0].type.tensor_type.shape.dim
    assert dims[1].dim_value == 9 and dims[0].dim_param  # 9 channels, a dynamic batch


class _Shift:
    """A fake engine: adds a fixed amount per crop (its 'correction'), on the centre of K stacked frames."""

    name, input_size = "shift", 8

    def __init__(self, amounts: list[float], frames: int = 1) -> None:
        self.amounts, self.frames = amounts, frames
        self.session = "backend attribute"

    def __call__(self, crops: np.ndarray) -> np.ndarray:
        k = self.frames // 2
        centre = crops[..., 3 * k:3 * k + 3].astype(np.float32)
        return np.clip(centre + np.asarray(self.amounts, np.float32)[:, None, None, None], 0, 255).astype(np.uint8)


@pytest.mark.parametrize("frames", [1, 3])
def test_settle_leaves_small_corrections_out_and_fades_the_rest_in(frames):
    """Mean correction under LOW: the centre crop bit for bit; over HIGH: the engine's output; between: a
    linear fade. Backend attributes stay reachable."""
    from streamdeblur.backends import SettledEngine

    crops = np.random.default_rng(0).integers(50, 200, (3, 8, 8, 3 * frames), dtype=np.uint8)
    inner = _Shift([0.4, 1.0, 4.0], frames)
    settled = SettledEngine(inner, 0.5, 1.5)
    out = settled(crops)
    centre = crops[..., 3 * (frames // 2):3 * (frames // 2) + 3]
    assert np.array_equal(out[0], centre[0])  # 0.4 < LOW
    assert np.array_equal(out[2], inner(crops)[2])  # 4 > HIGH
    assert np.allclose(out[1].astype(np.float32) - centre[1], 0.5, atol=0.51)  # halfway: +1 -> +0.5, rounded
    assert settled.session == "backend attribute" and settled.frames == frames and settled.input_size == 8
    with pytest.raises(UserError):
        SettledEngine(inner, 1.5, 0.5)



def _naf_folder(tmp_path, card):
    import json

    folder = tmp_path / "naf-engine"
    module = models.load_model("naf", allow_random=True)
    with torch.no_grad():
        for p in module.parameters():  # trained-looking weights: the zero-initialised ending would hide the rest
            p.add_(torch.randn_like(p) * 0.05)
    models.save_weights(module, folder / "model.safetensors")
    (folder / "card.json").write_text(json.dumps(card))
    return folder


def test_an_engine_card_tlc_runs_the_same_weights_with_local_pooling_on_both_backends(tmp_path, face_crops):
    from streamdeblur.nets import NAFNet

    folder = _naf_folder(tmp_path, {"model": "naf", "tlc": 96})
    module = models.load_model("naf", folder / "model.safetensors")
    net = next(m for m in module.modules() if isinstance(m, NAFNet))
    assert net.tlc == 96 and {b.window for b in net.middle} == {12}
    plain = models.load_model("naf", models.save_weights(module, tmp_path / "bare" / "model.safetensors"))
    assert next(m for m in plain.modules() if isinstance(m, NAFNet)).tlc == 0  # no card beside it
    assert models.state_hash(module) != models.state_hash(plain)  # its own ONNX file
    a = create_engine("naf", backend="torch", weights=folder)(face_crops)
    b = create_engine("naf", backend="onnxruntime", weights=folder, threads=1)(face_crops)
    c = create_engine("naf", backend="torch", weights=tmp_path / "bare" / "model.safetensors")(face_crops)
    assert _diff(a, b).max() <= 1
    assert _diff(a, c).mean() > 0.01  # local pooling does change what the net does


@pytest.mark.parametrize("bad", [0, -96, 1.5, "96", True])
def test_an_engine_card_tlc_that_is_not_a_window_is_one_clear_error(tmp_path, bad):
    folder = _naf_folder(tmp_path, {"model": "naf", "tlc": bad})
    if bad == 0:  # 0: off, as without it
        models.load_model("naf", folder / "model.safetensors")
        return
    with pytest.raises(UserError, match="tlc"):
        models.load_model("naf", folder / "model.safetensors")
