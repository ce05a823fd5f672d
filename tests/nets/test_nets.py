"""The networks: shapes at the papers' sizes, parameter counts, shared decoder, heads."""

from __future__ import annotations

import pytest
import torch

from streamdeblur.nets import HG, Discriminator, Generator, ImageModel, Multiscale, TwoStep, structure_target
from streamdeblur.nets.cgan import DECODER_CHANNELS, ENCODER_CHANNELS
from streamdeblur.nets.common import count_parameters, scaled


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    yield
    torch.set_num_threads(threads)


def _shapes(layers: torch.nn.ModuleList, run) -> list[tuple[int, ...]]:
    """Output shapes of each module in `layers` while `run()` executes."""
    shapes: list[tuple[int, ...]] = []
    hooks = [m.register_forward_hook(lambda _m, _i, out: shapes.append(tuple(out.shape))) for m in layers]
    try:
        run()
    finally:
        for h in hooks:
            h.remove()
    return shapes


# --- HG ---


def test_hg_paper_size_output_and_parameters():
    net = HG().eval()
    assert 4_000_000 < count_parameters(net) < 10_000_000
    x = torch.rand(1, 3, 256, 256)
    with torch.inference_mode():
        y = net(x)
    assert y.shape == (1, 3, 256, 256)
    assert torch.isfinite(y).all()


def test_hg_predicts_a_residual_on_the_input():
    net = HG(width=0.125, stacks=1, depth=3).eval()
    x = torch.rand(2, 3, 64, 64)
    last = net.head[-1]
    with torch.no_grad():
        last.weight.zero_()
        last.bias.zero_()
        assert torch.equal(net(x), x)  # a zero head returns the input exactly
        last.bias.fill_(0.25)
        assert torch.allclose(net(x), x + 0.25)


@pytest.mark.parametrize("kwargs", [dict(width=0.25, stacks=2, depth=4), dict(width=0.125, stacks=1, depth=2, down=1)])
def test_hg_fast_variants_keep_the_size(kwargs):
    net = HG(**kwargs).eval()
    with torch.inference_mode():
        assert net(torch.rand(2, 3, 128, 128)).shape == (2, 3, 128, 128)
    assert count_parameters(net) < count_parameters(HG(width=0.5, stacks=2, depth=4))


def test_hg_width_scales_parameters():
    small, larger = HG(width=0.25), HG(width=0.5)
    assert 3 < count_parameters(larger) / count_parameters(small) < 5  # ~ width squared


# --- cGAN ---


def test_generator_full_size_parameter_counts():
    g = Generator()  # constructed, not run: the full model is ~57M parameters
    enc, dec = count_parameters(g.enc_bl), count_parameters(g.dec)
    assert 12_000_000 < enc < 25_000_000
    assert 15_000_000 < dec < 35_000_000
    assert count_parameters(g) == 2 * enc + dec - (6 - 3) * 64 * 16  # enc_s differs only in its 3 input channels
    assert g.enc_bl.layers[0][0].in_channels == 6 and g.enc_s.layers[0][0].in_channels == 3


@pytest.mark.parametrize("size", [256, 128])
def test_generator_layer_shapes_round_trip(size):
    width = 0.0625
    g = Generator(width=width).eval()
    x = torch.rand(1, 6, size, size)
    enc = _shapes(g.enc_bl.layers, lambda: g.forward_bl(x))
    assert [s[1] for s in enc] == [scaled(c, width) for c in ENCODER_CHANNELS]
    assert [s[2] for s in enc] == [size // 2**i for i in range(1, 8)] + [size // 128]
    dec = _shapes(g.dec.layers, lambda: g.forward_bl(x))
    assert [s[1] for s in dec] == [scaled(c, width) for c in DECODER_CHANNELS[:-1]] + [3]
    assert [s[2] for s in dec] == [size // 128] + [size // 2**i for i in range(6, -1, -1)]
    with torch.inference_mode():
        assert g.forward_bl(x).shape == (1, 3, size, size)
        assert g.forward_s(torch.rand(1, 3, size, size)).shape == (1, 3, size, size)


def test_generator_pathways_share_the_decoder_parameters():
    g = Generator(width=0.0625)
    bl = g.bl_pathway()
    assert [p.data_ptr() for p in bl.dec.parameters()] == [p.data_ptr() for p in g.dec.parameters()]
    # Gradients of both pathways land in the same decoder tensors, and G_s never touches enc_bl.
    g.train()
    g.forward_s(torch.rand(2, 3, 128, 128)).mean().backward()
    assert all(p.grad is not None for p in g.dec.parameters())
    assert all(p.grad is None for p in g.enc_bl.parameters())
    before = [p.grad.clone() for p in g.dec.parameters()]
    g.forward_bl(torch.rand(2, 6, 128, 128)).mean().backward()
    assert any(not torch.equal(b, p.grad) for b, p in zip(before, g.dec.parameters()))
    # Changing a decoder weight changes what both pathways output.
    g.eval()
    x6, y3 = torch.rand(1, 6, 128, 128), torch.rand(1, 3, 128, 128)
    with torch.no_grad():
        a, b = g.forward_bl(x6), g.forward_s(y3)
        g.dec.layers[-1][0].weight.mul_(2.0)
        assert not torch.allclose(a, g.forward_bl(x6)) and not torch.allclose(b, g.forward_s(y3))
        assert torch.allclose(bl(x6), g.forward_bl(x6))


def test_a_residual_generator_starts_as_the_identity_and_learns_a_correction_on_the_blurry_input():
    g = Generator(width=0.0625, residual=True)
    x6, y3 = torch.rand(2, 6, 128, 128), torch.rand(2, 3, 128, 128)
    for mode in (g.train, g.eval):
        mode()
        with torch.no_grad():  # the decoder's last layer starts at zero: both pathways return their image
            assert torch.equal(g.forward_bl(x6), x6[:, :3]) and torch.equal(g.forward_s(y3), y3)
            assert torch.equal(g.bl_pathway()(x6), x6[:, :3])
    # The zero layer still gets a gradient, and one step moves the output away from the input.
    g.train()
    target = torch.rand(2, 3, 128, 128)
    (g.forward_bl(x6) - target).abs().mean().backward()
    last = g.dec.layers[-1][0]
    assert last.weight.grad.abs().sum() > 0 and last.bias.grad.abs().sum() > 0
    torch.optim.SGD(g.parameters(), lr=0.1).step()
    g.eval()
    with torch.no_grad():
        out = g.forward_bl(x6)
        # the output is the blurry channels plus what the plain (non-residual) pathway computes
        assert torch.allclose(out, x6[:, :3] + g.dec(*g.enc_bl(x6)), atol=1e-6)
        assert not torch.allclose(out, x6[:, :3])
    plain = Generator(width=0.0625)
    assert plain.dec.layers[-1][0].weight.abs().sum() > 0  # the paper's generator is not zero-initialised


def test_discriminator_returns_logits_and_penultimate_features():
    d = Discriminator(cond_channels=3)
    assert 2_000_000 < count_parameters(d) < 4_000_000
    small = Discriminator(cond_channels=3, width=0.125).eval()
    image, blurry = torch.rand(2, 3, 256, 256), torch.rand(2, 3, 256, 256)
    with torch.inference_mode():
        logits, feats = small.features(image, blurry)
        assert torch.equal(small(image, blurry), logits)
    assert logits.shape == (2, 1, 30, 30)
    assert feats.shape == (2, scaled(512, 0.125), 31, 31)
    with pytest.raises(ValueError, match="condition"):
        small(image)


# --- Multiscale ---


def test_multiscale_returns_both_scales_and_both_tasks():
    assert 1_000_000 < count_parameters(Multiscale()) < 3_000_000
    net = Multiscale(width=0.25, n_res=2).eval()
    x = torch.rand(2, 3, 128, 128)
    with torch.inference_mode():
        out = net(x)
        restored = net.restore(x)
    assert [t.shape for t in out["images"]] == [(2, 3, 64, 64), (2, 3, 128, 128)]
    assert [t.shape for t in out["structures"]] == [(2, 6, 64, 64), (2, 6, 128, 128)]
    assert torch.allclose(restored, out["images"][-1], atol=1e-6)


def test_multiscale_scales_share_weights():
    net = Multiscale(width=0.125, n_res=1)
    first = net.trunk[0]
    calls = []
    first.register_forward_hook(lambda _m, inp, _o: calls.append(inp[0].shape[-1]))
    net(torch.rand(1, 3, 64, 64))
    assert calls == [32, 64]  # the one trunk ran at the coarse then the fine scale


def test_structure_target_is_the_image_gradient():
    ramp = torch.arange(8.0).repeat(8, 1)[None, None].repeat(1, 3, 1, 1)  # value = x
    s = structure_target(ramp)
    assert s.shape == (1, 6, 8, 8)
    assert torch.all(s[:, :3, :, :-1] == 1) and torch.all(s[:, 3:] == 0)


# --- compositions ---


def test_two_step_feeds_blurry_and_hg_output_to_g_bl():
    hg = HG(width=0.125, stacks=1, depth=2).eval()
    g = Generator(width=0.0625).eval()
    model = TwoStep(hg, g.bl_pathway()).eval()
    x = torch.rand(1, 3, 128, 128)
    with torch.inference_mode():
        assert torch.allclose(model(x), g.forward_bl(torch.cat([x, hg(x)], 1)))


def test_image_model_clamps_to_unit_range():
    hg = HG(width=0.125, stacks=1, depth=2).eval()
    with torch.no_grad():
        hg.head[-1].bias.fill_(5.0)
        out = ImageModel(hg, 64)(torch.rand(1, 3, 64, 64))
    assert out.min() >= 0 and out.max() <= 1 and torch.all(out == 1.0)


# --- compact U-Net ---


def test_unet_starts_as_the_identity_and_keeps_the_size():
    from streamdeblur.nets import UNet

    net = UNet().eval()
    x = torch.rand(2, 3, 128, 128)
    with torch.inference_mode():
        assert torch.equal(net(x), x)  # zero-initialised output conv: "return the input" at step 0
    torch.nn.init.normal_(net.out.weight, std=0.01)
    with torch.inference_mode():
        y = net(torch.rand(1, 3, 96, 160))
    assert y.shape == (1, 3, 96, 160)


def test_unet_levels_run_at_full_half_quarter_and_eighth_resolution():
    from streamdeblur.nets import UNet

    net = UNet(widths=(8, 16, 24, 32)).eval()
    x = torch.rand(1, 3, 64, 64)
    shapes = _shapes(torch.nn.ModuleList([*net.enc, net.mid]), lambda: net(x))
    assert shapes == [(1, 8, 64, 64), (1, 16, 32, 32), (1, 24, 16, 16), (1, 32, 8, 8)]
    # a pixel's correction depends on its neighbourhood: the output is not a per-pixel map
    torch.nn.init.normal_(net.out.weight, std=0.1)
    x.requires_grad_(True)
    net(x)[0, :, 32, 32].sum().backward()
    assert (x.grad[0].abs().sum(0) > 0).sum() > 100


# --- NAFNet ---


def test_nafnet_starts_as_the_centre_frame_and_keeps_the_size():
    from streamdeblur.nets import NAFNet

    for frames in (1, 3):
        net = NAFNet(width=8, enc=(1, 1), mid=1, dec=(1, 1), frames=frames).eval()
        x = torch.rand(2, 3 * frames, 32, 32)
        with torch.no_grad():
            y = net(x)
        k = frames // 2
        assert y.shape == (2, 3, 32, 32)
        assert torch.equal(y, x[:, 3 * k:3 * k + 3])  # zero-initialised ending: training starts from "return it"
        for name, p in net.named_parameters():  # skip-init: every block starts as the identity
            if name.endswith(("beta", "gamma")):
                assert torch.count_nonzero(p) == 0, name
    with pytest.raises(ValueError):
        NAFNet(frames=2)


def test_a_delta_nafnet_is_the_plain_one_with_the_centre_weights_moved():
    """delta=True feeds the intro conv (neighbour - centre): the same function as the plain net whose centre
    slice of the intro weights is W_c - sum of the neighbours' slices; the same parameters, a different map."""
    from streamdeblur.nets import NAFNet

    torch.manual_seed(0)
    delta = NAFNet(width=8, enc=(1,), mid=1, dec=(1,), frames=3, delta=True).eval()
    for p in delta.parameters():  # trained-looking weights (the zero ending would hide everything)
        p.data.normal_(0, 0.1)
    plain = NAFNet(width=8, enc=(1,), mid=1, dec=(1,), frames=3).eval()
    plain.load_state_dict(delta.state_dict())
    x = torch.rand(2, 9, 32, 32)
    with torch.no_grad():
        assert not torch.allclose(delta(x), plain(x), atol=1e-3)
        w = plain.intro.weight
        w[:, 3:6] -= w[:, 0:3] + w[:, 6:9]
        assert torch.allclose(delta(x), plain(x), atol=1e-5)
    assert not NAFNet(width=8, enc=(1,), mid=1, dec=(1,), frames=1, delta=True).delta  # one frame: nothing to subtract


def test_nafnet_default_sizes_and_layer_norm():
    from streamdeblur.models import NAF
    from streamdeblur.nets import NAFNet
    from streamdeblur.nets.nafnet import LayerNorm2d

    net = NAFNet(**NAF)
    assert 700_000 < count_parameters(net) < 1_000_000 and net.down_factor == 8
    norm = LayerNorm2d(4)
    x = torch.randn(2, 4, 5, 5) * 3 + 1
    y = norm(x)
    assert torch.allclose(y.mean(1), torch.zeros(2, 5, 5), atol=1e-5)
    assert torch.allclose(y.var(1, unbiased=False), torch.ones(2, 5, 5), atol=1e-3)


def test_nafnet_dropout_acts_only_while_training_and_adds_no_weights():
    """dropout (TrainConfig.dropout): channel dropout before the ending conv in train mode; eval mode and the
    state dict are the plain net's, so released weights and exported graphs do not change."""
    from streamdeblur.nets import NAFNet

    torch.manual_seed(0)
    net = NAFNet(width=8, enc=(1,), mid=1, dec=(1,))
    for p in net.parameters():
        p.data.normal_(0, 0.1)
    plain = NAFNet(width=8, enc=(1,), mid=1, dec=(1,))
    plain.load_state_dict(net.state_dict())
    net.dropout = 0.5
    assert set(net.state_dict()) == set(plain.state_dict())
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        assert not torch.allclose(net.train()(x), net(x))  # two draws of the mask
        assert torch.equal(net.eval()(x), plain.eval()(x))


@pytest.mark.parametrize("kwargs, tlc", [(dict(), 0), (dict(frames=3, delta=True), 0), (dict(), 32)],
                         ids=["one frame", "delta, three frames", "tlc"])
def test_a_folded_nafnet_computes_what_the_trained_one_does(kwargs, tlc):
    """NAFNet.folded (what the engines run): each LayerNorm's scale and shift in the conv after it, beta and gamma in
    the conv before them, the gates' halves from two convs, the ups as transposed convs: the same outputs, the
    trained net untouched."""
    from torch import nn

    from streamdeblur.nets import NAFNet
    from streamdeblur.nets.nafnet import FoldedNAFBlock, LayerNorm2d

    torch.manual_seed(0)
    net = NAFNet(width=8, enc=(1, 2), mid=2, dec=(1, 1), **kwargs).eval()
    for p in net.parameters():  # every weight away from its initialisation (beta, gamma, the ending start at 0)
        p.data.normal_(0, 0.3)
    net.set_tlc(tlc)
    x = torch.rand(2, 3 * net.frames, 64, 64)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    folded = net.folded()
    with torch.no_grad():
        want, got = net(x), folded(x)
    assert want.abs().max() > 1  # the blocks change the image: the comparison below means something
    assert (got - want).abs().max() < 1e-4
    assert all(torch.equal(v, net.state_dict()[k]) for k, v in before.items())
    assert sum(isinstance(m, FoldedNAFBlock) for m in folded.modules()) == 7
    assert not any(isinstance(m, (nn.PixelShuffle, LayerNorm2d)) for m in folded.modules())


def test_local_mean_is_the_mean_of_the_clamped_window_that_holds_each_pixel():
    from streamdeblur.nets.nafnet import local_mean

    x = torch.rand(2, 3, 11, 13)
    k = 5
    m = local_mean(x, k)
    assert m.shape == x.shape
    for i in range(11):
        for j in range(13):
            r, c = min(max(i - k // 2, 0), 11 - k), min(max(j - k // 2, 0), 13 - k)
            assert torch.allclose(m[..., i, j], x[..., r:r + k, c:c + k].mean((2, 3)), atol=1e-6), (i, j)
    assert torch.equal(local_mean(x, 13), x.mean((2, 3), keepdim=True))  # no smaller than the map: the global mean


def test_nafnet_tlc_windows_halve_per_level_and_a_base_as_large_as_the_input_changes_nothing():
    from streamdeblur.nets import NAFNet

    torch.manual_seed(0)
    net = NAFNet(width=8, enc=(1, 1), mid=2, dec=(1, 1)).eval()
    for p in net.parameters():  # weights large enough for the attention to show (the zero ending would hide all)
        p.data.normal_(0, 0.3)
    x = torch.rand(2, 3, 64, 64)
    x[..., :32] *= 0.1  # a dark half: local means differ from the global one
    with torch.no_grad():
        plain = net(x)
        net.set_tlc(64)  # every window covers its whole map: what training on 64-px patches saw
        assert torch.equal(net(x), plain)
        net.set_tlc(32)
        local = net(x)
    assert [b.window for b in net.encoders.modules() if hasattr(b, "window")] == [32, 16]
    assert {b.window for b in net.middle} == {8}
    assert [b.window for b in net.decoders.modules() if hasattr(b, "window")] == [16, 32]
    assert (local - plain).abs().max() > 0.1
    net.set_tlc(0)
    with torch.no_grad():
        assert torch.equal(net(x), plain)
    with pytest.raises(ValueError):
        net.set_tlc(-1)
