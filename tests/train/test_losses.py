"""Each loss against a value computed by hand on tiny tensors."""

from __future__ import annotations

import math

import pytest
import torch

from streamdeblur.errors import UserError
from streamdeblur.train import losses


def t(rows: list[list[float]]) -> torch.Tensor:
    """A 1 x 1 x H x W tensor from nested lists."""
    return torch.tensor(rows, dtype=torch.float32)[None, None]


def test_l1_plain_and_weighted():
    out, tgt = t([[0.0, 1.0], [0.5, 0.5]]), t([[1.0, 1.0], [0.0, 0.0]])
    # |diffs| = 1, 0, .5, .5 -> mean .5
    assert losses.l1(out, tgt).item() == pytest.approx(0.5)
    w = t([[3.0, 1.0], [0.0, 0.0]])
    # (3*1 + 1*0) / (3+1) = .75
    assert losses.l1(out, tgt, w).item() == pytest.approx(0.75)


def test_psnr_loss_is_minus_the_mean_per_sample_psnr():
    tgt = torch.zeros(2, 1, 2, 2)
    out = tgt.clone()
    out[0, 0, 0, 0] = 0.2  # sample 0: MSE .04 / 4 = .01 (20 dB); sample 1: exact (capped by eps)
    eps = 1e-5
    want = (10 * math.log10(0.01 + eps) + 10 * math.log10(eps)) / 2
    assert losses.psnr_loss(out, tgt, eps=eps).item() == pytest.approx(want, rel=1e-5)
    # per sample, not over the batch: the blurry sample alone would score far better pooled
    pooled = 10 * math.log10(0.04 / 8 + eps)
    assert losses.psnr_loss(out, tgt, eps=eps).item() < pooled - 10
    w = torch.zeros(2, 1, 2, 2)
    w[:, :, 0, 0] = 1.0  # weight only the changed pixel: sample 0's MSE becomes .04
    want_w = (10 * math.log10(0.04 + eps) + 10 * math.log10(eps)) / 2
    assert losses.psnr_loss(out, tgt, eps=eps, weight=w).item() == pytest.approx(want_w, rel=1e-5)


def test_changed_pixel_weight():
    blurry = t([[0.0, 0.4], [0.0, 0.0]]).repeat(1, 3, 1, 1)
    sharp = torch.zeros_like(blurry)
    w = losses.changed_pixel_weight(blurry, sharp, strength=2.0)
    # d = [0, .4, 0, 0], mean .1 -> w = 1 + 2 * d / .1 = [1, 9, 1, 1]
    assert w.shape == (1, 1, 2, 2)
    assert w.flatten().tolist() == pytest.approx([1.0, 9.0, 1.0, 1.0])
    assert torch.equal(losses.changed_pixel_weight(blurry, sharp, 0.0), torch.ones(1, 1, 2, 2))


def test_gradient_l1():
    out = t([[0.0, 1.0, 3.0], [0.0, 0.0, 0.0]])
    tgt = torch.zeros_like(out)
    # dx of out: [[1, 2], [0, 0]] -> mean .75 ; dy: [[0, -1, -3]] -> mean 4/3
    assert losses.gradient_l1(out, tgt).item() == pytest.approx(0.75 + 4 / 3)
    # a constant offset has no gradient difference
    assert losses.gradient_l1(out + 0.3, out).item() == pytest.approx(0.0, abs=1e-6)


def test_structure_magnitude():
    x = t([[0.0, 3.0], [4.0, 0.0]])
    s = losses.structure(x, eps=0.0)
    # (0,0): dx=3, dy=4 -> 5 ; (0,1): dx pad 0, dy=-3 -> 3 ; (1,0): dx=-4, dy pad 0 -> 4 ; (1,1): 0
    assert s.flatten().tolist() == pytest.approx([5.0, 3.0, 4.0, 0.0])


def test_projection_loss_detaches_target():
    fake = torch.tensor([[1.0, 2.0, 3.0]], requires_grad=True)
    real = torch.tensor([[0.0, 2.0, 5.0]], requires_grad=True)
    loss = losses.projection_loss(fake, real)
    assert loss.item() == pytest.approx(1.0)  # (1 + 0 + 2) / 3
    loss.backward()
    assert real.grad is None and fake.grad is not None


def test_reconstruction_l1():
    assert losses.reconstruction_l1(t([[0.2, 0.4]]), t([[0.0, 0.0]])).item() == pytest.approx(0.3)


def test_adversarial_bce():
    logits = torch.tensor([0.0, math.log(3.0)])
    # -log(sigmoid(0)) = log 2 ; -log(sigmoid(log 3)) = -log(3/4)
    expected_g = (math.log(2) - math.log(0.75)) / 2
    assert losses.generator_adversarial(logits, "bce").item() == pytest.approx(expected_g)
    real, fake = torch.tensor([0.0]), torch.tensor([math.log(3.0)])
    # real: log 2 ; fake: -log(1 - 3/4) = log 4 ; halves averaged
    assert losses.discriminator_adversarial(real, fake, "bce").item() == pytest.approx((math.log(2) + math.log(4)) / 2)


def test_adversarial_lsgan_and_bad_kind():
    assert losses.generator_adversarial(torch.tensor([0.5, 1.0]), "lsgan").item() == pytest.approx(0.125)
    assert losses.discriminator_adversarial(torch.tensor([0.0]), torch.tensor([0.5]), "lsgan").item() == pytest.approx(0.625)
    with pytest.raises(UserError):
        losses.generator_adversarial(torch.zeros(1), "wgan")


def test_multiscale_l1():
    target = torch.zeros(1, 3, 4, 4)
    target[..., 0, 0] = 4.0  # area-downsampled to 2x2: top-left 1.0
    full, half = torch.zeros(1, 3, 4, 4), torch.zeros(1, 3, 2, 2)
    s_full, s_half = torch.zeros(1, 3, 4, 4), torch.zeros(1, 3, 2, 2)
    got = losses.multiscale_l1([half, full], [s_half, s_full], target, structure_weight=0.0)
    # image terms only: half: mean |1,0,0,0| = .25 ; full: 4/16 = .25
    assert got.item() == pytest.approx(0.5)
    with_struct = losses.multiscale_l1([half, full], [s_half, s_full], target, structure_weight=1.0)
    expected = 0.5 + losses.structure(torch.nn.functional.interpolate(target, size=(2, 2), mode="area")).mean() \
        + losses.structure(target).mean()
    assert with_struct.item() == pytest.approx(expected.item(), rel=1e-5)


def _tiny_vgg_state(path):
    torch.manual_seed(0)
    feats = losses.vgg19_features()
    state = {f"features.{k}": v for k, v in feats.state_dict().items()}
    state["classifier.0.weight"] = torch.zeros(2, 2)
    torch.save(state, path)
    return feats


def test_vgg_perceptual_matches_manual(tmp_path):
    feats = _tiny_vgg_state(tmp_path / "vgg19.pth")
    loss_fn = losses.load_vgg19(tmp_path / "vgg19.pth")
    a, b = torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    xa, xb, terms = (a - mean) / std, (b - mean) / std, []
    for i, layer in enumerate(feats):
        xa, xb = layer(xa), layer(xb)
        if i in (3, 8, 13, 22, 31):
            terms.append((xa - xb).abs().mean())
        if i == 31:
            break
    assert loss_fn(a, b).item() == pytest.approx(sum(terms).item() / 5, rel=1e-5)
    assert loss_fn(a, a).item() == 0.0


def test_vgg_bad_inputs(tmp_path):
    with pytest.raises(UserError, match="not found"):
        losses.load_vgg19(tmp_path / "missing.pth")
    torch.save({"conv.weight": torch.zeros(1)}, tmp_path / "other.pth")
    with pytest.raises(UserError, match="not a VGG19"):
        losses.load_vgg19(tmp_path / "other.pth")


def test_identity_loss_cosine():
    embed = torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())  # per-channel means
    loss_fn = losses.IdentityLoss(embed, size=8)
    a = torch.full((1, 3, 8, 8), 127.5 / 255)  # normalised mean 0 ...
    a[:, 0] = 1.0  # ... except channel 0: (255 - 127.5) / 128
    b = torch.full((1, 3, 8, 8), 127.5 / 255)
    b[:, 1] = 1.0
    assert loss_fn(a, b).item() == pytest.approx(1.0, abs=1e-5)  # orthogonal embeddings
    assert loss_fn(a, a).item() == pytest.approx(0.0, abs=1e-5)


def test_onnx_identity_model_matches_onnxruntime(shared):
    ort = pytest.importorskip("onnxruntime")
    path = shared("models/mobilefacenet/MobileFaceNet.onnx")
    torch.set_num_threads(1)
    loss_fn = losses.load_identity(path.parent)
    x = torch.rand(2, 3, 112, 112)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    normed = ((x * 255 - 127.5) / 128).numpy()
    want = [sess.run(None, {sess.get_inputs()[0].name: normed[i : i + 1]})[0][0] for i in range(2)]
    got = loss_fn.embed(x).detach().numpy()
    assert abs(got - want).max() < 1e-3
    y = x.clone().requires_grad_(True)
    loss_fn(y, x.flip(-1)).backward()
    assert y.grad is not None and y.grad.abs().sum() > 0


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_onnx_module_on_exported_model(tmp_path):
    pytest.importorskip("onnxscript")
    from streamdeblur.train.onnx_module import load_onnx_module

    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, stride=2, padding=1), torch.nn.ReLU(),
                              torch.nn.Conv2d(4, 2, 1), torch.nn.Flatten()).eval()
    path = tmp_path / "tiny.onnx"
    torch.onnx.export(net, (torch.rand(1, 3, 16, 16),), str(path), dynamo=False)
    module, size = load_onnx_module(path)
    x = torch.rand(3, 3, 16, 16)
    assert size == 16
    assert torch.allclose(module(x), net(x), atol=1e-5)


def test_identity_missing_model(tmp_path):
    with pytest.raises(UserError):
        losses.load_identity(tmp_path / "nope.onnx")
    with pytest.raises(UserError, match="no .onnx"):
        losses.load_identity(tmp_path)
