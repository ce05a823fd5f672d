"""Training stages: one class per training scheme, chosen by name from STAGES.

A stage owns the networks it trains (`parts`, checkpointed by name), their optimisers, one
optimisation step (`step`) and the network that restores images at inference (`inference_net`).
The Trainer owns everything else: the loop, the learning-rate schedule, EMA, checkpoints, logs.

    single    one network (fast, hg, fast-unet, ...): L1 (or Charbonnier) + gradient L1 (+ FFT L1)
    hg        Chrysos et al. step 1: the hourglass with L1 only
    restore   the modern recipe (NAFNet, MIMO-UNet): Charbonnier + 0.1 x L1 of the FFT, AdamW
              (betas 0.9, 0.9), cosine decay, patches from the decoded pair cache
    cgan      Chrysos et al. step 2: the two-pathway cGAN on [blurry, HG(blurry)] (variants: full,
              no-hg, single-pathway)
    multiscale  Shen et al.: the two-scale multi-task network, L1 on image + structure per scale,
              perceptual and adversarial terms

Adding a stage: subclass Stage (or a stage close to it), give it a name and its config defaults,
and add it to STAGES; registry entries name the stages that can train them (models.ModelSpec.stages).
"""

from __future__ import annotations

import logging
import math
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Callable, ClassVar

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel

from streamdeblur.errors import UserError
from streamdeblur.nets.nafnet import widened
from streamdeblur.train import losses
from streamdeblur.train.distributed import DistInfo

from streamdeblur.train.config import TrainConfig

Autocast = Callable[[], AbstractContextManager]
log = logging.getLogger(__name__)
CHECKPOINT_FORMAT = 1
CHECKPOINT = "last.pt"  # a run's checkpoint, in its run directory
BEST_CHECKPOINT = "best.pt"  # beside it: the state at the validation with the highest gain_db so far


def make_optimizer(cfg: TrainConfig, params: Any, lr: float) -> torch.optim.Optimizer:
    """Adam or AdamW (cfg.optimizer) over the parameters that require grad."""
    cls = torch.optim.AdamW if cfg.optimizer == "adamw" else torch.optim.Adam
    return cls([p for p in params if p.requires_grad], lr=lr, betas=tuple(cfg.betas), weight_decay=cfg.weight_decay)


def inflate_frames(own: dict[str, Tensor], state: dict[str, Tensor]) -> dict[str, Tensor]:
    """state with input convs widened to a module with more frames: a (O, 3J, kh, kw) weight where the module
    has (O, 3K, kh, kw), J < K both odd, goes to the K frames' middle J slices, zeros for the outer frames, so the
    wider network starts as the narrower one (a warm start: single-frame to temporal, 3 frames to 5)."""
    out = dict(state)
    for k, v in state.items():
        if k not in own or v.dim() != 4 or own[k].dim() != 4 \
                or (v.shape[0], *v.shape[2:]) != (own[k].shape[0], *own[k].shape[2:]):
            continue
        have, frames = v.shape[1] // 3, own[k].shape[1] // 3
        if v.shape[1] % 3 or own[k].shape[1] % 3 or have % 2 == 0 or frames % 2 == 0 or have >= frames:
            continue
        first = frames // 2 - have // 2
        wide = torch.zeros_like(own[k])
        wide[:, 3 * first:3 * (first + have)] = v.to(wide.dtype)
        out[k] = wide
    return out


def grow_blocks(own: dict[str, Tensor], state: dict[str, Tensor]) -> dict[str, Tensor]:
    """state with the blocks that a deeper module adds taken from the module's own fresh weights, where those
    blocks are skip-initialised (their residual scales `beta` and `gamma` all zero: each starts as the
    identity), so the deeper network starts as the shallower one (a warm start for a grown engine). Any other
    missing weight is left missing (the caller reports the mismatch)."""
    out = dict(state)
    for key in own:
        if key in state:
            continue
        parts = key.split(".")
        for depth in range(len(parts) - 1, 0, -1):  # the innermost skip-initialised block holding this weight
            block = ".".join(parts[:depth])
            scales = [own.get(f"{block}.{name}") for name in ("beta", "gamma")]
            if all(t is not None and not t.any() for t in scales) \
                    and not any(k.startswith(block + ".") for k in state):
                out[key] = own[key]
                break
    return out


def widen_channels(own: dict[str, Tensor], state: dict[str, Tensor]) -> dict[str, Tensor]:
    """state widened to a NAFNet of a whole multiple of its width, computing the same function
    (nets/nafnet.widened): a warm start for a wider engine. Any other state is returned as it is."""
    key = "intro.weight"
    if key not in own or key not in state or "middle.0.beta" not in state:
        return state
    wide, narrow = own[key].shape[0], state[key].shape[0]
    if wide <= narrow or wide % narrow:
        return state
    return widened(state, wide // narrow)


def _warm_start(own: dict[str, Tensor], state: dict[str, Tensor]) -> dict[str, Tensor]:
    """A released or checkpointed state adapted to a module with more input frames, more blocks or more width."""
    return grow_blocks(own, inflate_frames(own, widen_channels(own, state)))


def load_into(module: nn.Module, path: str, key: str) -> None:
    """Load weights into module from a training checkpoint (its EMA / named part) or a safetensors file."""
    p = Path(path)
    if not p.is_file():
        raise UserError(f"weights not found: {p}")
    if p.suffix == ".safetensors":
        from safetensors.torch import load_file

        state = load_file(str(p))
        # released engines wrap the net (ImageModel.net[.hg / .g]); accept those prefixes too; a single-frame
        # release warm-starts a K-frame module (inflate_frames) or a deeper one (grow_blocks), as a
        # checkpoint does
        own = module.state_dict()
        for prefix in ("net.hg.", "net.g.", "net.", ""):
            sub = _warm_start(own, {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)})
            if set(own) <= set(sub) and all(sub[k].shape == v.shape for k, v in own.items()):
                module.load_state_dict({k: sub[k].to(v.dtype) for k, v in own.items()})
                return
        raise UserError(f"{p} does not hold weights for this network")
    try:
        ckpt = torch.load(str(p), map_location="cpu", weights_only=False)
    except Exception as exc:  # noqa: BLE001 - an unreadable file is the user's to fix
        raise UserError(f"cannot read {p} as a training checkpoint or .safetensors ({exc.__class__.__name__})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise UserError(f"{p} is not a streamdeblur training checkpoint")
    single = STAGES.get(ckpt["config"]["stage"], Stage).single_network
    own = module.state_dict()
    if single and set(ckpt["models"]) == {key}:
        module.load_state_dict(_warm_start(own, ckpt["ema"]["module"]))  # stage 1: its EMA weights
    elif key == "g" and "g" in ckpt["models"]:
        module.load_state_dict(_warm_start(own, ckpt["ema"]["module"]))  # the EMA is always of the generator
    elif key in ckpt["models"]:
        module.load_state_dict(ckpt["models"][key])
    else:
        raise UserError(f"{p} holds no '{key}' network")


def input_sides(parts: dict[str, nn.Module]) -> tuple[int, int]:
    """(multiple, minimum): the image sides the networks take. Each downsampling net says how many times it halves
    the image (`down_factor`: HG, NAFNet, U-Net) or the least side it takes (`min_size`: the cGAN generator's seven
    stride-2 layers, a multiple of 128); Shen et al.'s net runs a half-size pass (even sides) and the PatchGAN
    discriminator's logits vanish under 24 px."""
    multiple, minimum = 1, 1
    for net in parts.values():
        for module in net.modules():
            factor = int(getattr(module, "down_factor", 0) or getattr(module, "min_size", 0) or 0)
            kind = type(module).__name__
            if kind == "Multiscale":
                factor = 2
            elif kind == "Discriminator":
                minimum = max(minimum, 24)
            if factor > 1:
                multiple = math.lcm(multiple, factor)
    return multiple, max(minimum, multiple)


def check_input_size(cfg: TrainConfig, parts: dict[str, nn.Module], frames: int = 1) -> None:
    """UserError, before any training, when crop_size (or the cached patches' side) does not suit the networks:
    a side the net cannot halve as often as it does fails in its first step ("Output size is too small")."""
    multiple, minimum = input_sides(parts)
    sides = [("--crop-size", cfg.crop_size)]
    if cfg.patch and (cfg.cache or frames > 1):
        sides.append(("patch (--set patch=...)", cfg.patch))
    for option, side in sides:
        if side % multiple or side < minimum:
            first = -(-minimum // multiple) * multiple
            fits = range(first, 2 * max(first, side) + multiple, multiple)
            near = sorted(fits, key=lambda n: (abs(n - side), n))[:2]
            raise UserError(f"{option} {side} does not suit model {cfg.model}: its network takes sides that are "
                            + (f"a multiple of {multiple}" if multiple > 1 else "")
                            + (" and " if multiple > 1 and minimum > multiple else "")
                            + (f"at least {minimum}" if minimum > multiple else "")
                            + f" px (e.g. {' or '.join(map(str, sorted(near)))})")


class Stage:
    """Base of the training stages: networks, optimisers, the extra (perceptual, identity) loss terms."""

    name: ClassVar[str] = ""
    defaults: ClassVar[dict[str, Any]] = {}  # config values that differ from TrainConfig's for this stage
    single_network: ClassVar[bool] = False  # trains one network whose EMA is the released model

    def __init__(self, cfg: TrainConfig, parts: dict[str, nn.Module], info: DistInfo, device: str,
                 loading: bool = False) -> None:
        self.cfg, self.info, self.device, self.loading = cfg, info, device, loading
        if cfg.w_flicker and not self.single_network:
            raise UserError(f"w_flicker trains one restoring network (stages single, restore, hg), not stage {self.name}")
        self.gen: nn.Module
        self.hg: nn.Module | None = None
        self.disc: nn.Module | None = None
        self.parts: dict[str, nn.Module] = {}
        self.setup(parts)
        if cfg.dropout:
            if not hasattr(self.gen, "dropout"):
                raise UserError(f"dropout is for NAFNet models, not {cfg.model}")
            self.gen.dropout = cfg.dropout
        if cfg.init_weights:
            load_into(self.init_target(cfg.init_weights), cfg.init_weights, self.init_key())
        self.opt_g = make_optimizer(cfg, self.gen.parameters(), cfg.lr)
        self.opt_d = make_optimizer(cfg, self.disc.parameters(), cfg.d_lr) if self.disc is not None else None
        self.disc_ddp = self.ddp(self.disc) if self.disc is not None else None
        self.perceptual = losses.load_vgg19(cfg.vgg19).to(device) if cfg.vgg19 else None
        self.identity = losses.load_identity(cfg.identity_model).to(device) if cfg.identity_model else None

    # --- what a stage defines
    def setup(self, parts: dict[str, nn.Module]) -> None:
        """Pick the networks from parts; set gen, gen_ddp, parts (and hg, disc)."""
        raise NotImplementedError

    def step(self, blurry: Tensor, sharp: Tensor, autocast: Autocast) -> dict[str, Tensor]:
        """One optimisation step; returns the detached loss terms (with 'loss', the total)."""
        raise NotImplementedError

    def inference_net(self, gen: nn.Module) -> nn.Module:
        """The network whose restore(x) is the deblurred image, around generator weights gen."""
        return gen

    def init_key(self) -> str:
        """The part name whose weights --set init_weights=... loads."""
        return "g"

    def init_target(self, path: str) -> nn.Module:
        """The module that --set init_weights=PATH loads into: the generator."""
        return self.gen

    # --- shared helpers
    def ddp(self, module: nn.Module) -> nn.Module:
        """The module a step calls: wrapped in DistributedDataParallel under torchrun, and torch.compile'd with
        cfg.compile (it shares the module's parameters: optimisers, EMA and checkpoints keep the plain module)."""
        if self.info.world > 1:
            ids = [self.info.local_rank] if self.device.startswith("cuda") else None
            module = DistributedDataParallel(module, device_ids=ids)
        if not self.cfg.compile:
            return module
        torch._dynamo.config.suppress_errors = True  # a graph that fails to build runs eagerly (a warning): a broken
        # compiler costs speed, never the run
        return torch.compile(module)

    def optimizers(self) -> list[tuple[torch.optim.Optimizer, float]]:
        """(optimiser, its base learning rate) pairs, for the trainer's schedule."""
        out = [(self.opt_g, self.cfg.lr)]
        if self.opt_d is not None:
            out.append((self.opt_d, self.cfg.d_lr))
        return out

    def train_mode(self) -> None:
        self.gen.train()
        if self.disc is not None:
            self.disc.train()

    def extra_terms(self, out: Tensor, sharp: Tensor, terms: dict[str, Tensor]) -> Tensor:
        """Perceptual and identity terms, when their networks were given."""
        total = out.new_zeros(())
        if self.perceptual is not None and self.cfg.w_perceptual:
            terms["loss_perceptual"] = self.perceptual(out.float(), sharp)
            total = total + self.cfg.w_perceptual * terms["loss_perceptual"]
        if self.identity is not None and self.cfg.w_identity:
            terms["loss_identity"] = self.identity(out.float(), sharp)
            total = total + self.cfg.w_identity * terms["loss_identity"]
        return total

    def pixel_loss(self, out: Tensor, sharp: Tensor, weight: Tensor | None = None) -> Tensor:
        """cfg.loss between output and target: l1, charbonnier or psnr."""
        if self.cfg.loss == "charbonnier":
            return losses.charbonnier(out, sharp, weight=weight)
        if self.cfg.loss == "psnr":
            return losses.psnr_loss(out, sharp, weight=weight)
        return losses.l1(out, sharp, weight)

    def pixel_weight(self, blurry: Tensor, sharp: Tensor) -> Tensor | None:
        if not self.cfg.changed_weight:
            return None
        return losses.changed_pixel_weight(centre(blurry), sharp, self.cfg.changed_weight)

    def update_generator(self, total: Tensor, terms: dict[str, Tensor]) -> dict[str, Tensor]:
        """One optimiser step of the generator on `total`; returns the detached loss terms."""
        self.opt_g.zero_grad(set_to_none=True)
        total.backward()
        if self.cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(self.gen.parameters(), self.cfg.grad_clip)
        self.opt_g.step()
        terms["loss"] = total
        return {k: v.detach() for k, v in terms.items()}

    def disc_step(self, real: Tensor, fake: Tensor, condition: Tensor | None, autocast: Autocast) -> Tensor:
        """One discriminator update on real vs (detached) generated images."""
        assert self.disc is not None and self.disc_ddp is not None and self.opt_d is not None
        for p in self.disc.parameters():
            p.requires_grad_(True)
        cond = torch.cat([condition, condition]) if condition is not None else None
        with autocast():
            logits = self.disc_ddp(torch.cat([real, fake.detach()]), cond).float()
        real_logits, fake_logits = logits.chunk(2)
        loss = losses.discriminator_adversarial(real_logits, fake_logits, self.cfg.gan_loss)
        self.opt_d.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_d.step()
        for p in self.disc.parameters():
            p.requires_grad_(False)
        return loss.detach()

    def condition(self, blurry: Tensor) -> Tensor | None:
        return blurry if getattr(self.disc, "cond_channels", 0) else None


def centre(blurry: Tensor) -> Tensor:
    """The middle frame (3 channels) of a stack of K frames on the channel axis."""
    k = blurry.shape[1] // 3
    return blurry[:, 3 * (k // 2):3 * (k // 2) + 3] if k > 1 else blurry


class SingleStage(Stage):
    """One network: pixel loss (L1, Charbonnier or PSNR, optionally weighted to changed pixels) + gradient L1
    + L1 of the FFT, + perceptual/identity terms."""

    name = "single"
    defaults = {"lr": 2e-4, "betas": (0.9, 0.999), "w_l1": 1.0, "w_grad": 1.0}
    single_network = True

    def setup(self, parts: dict[str, nn.Module]) -> None:
        key = "hg" if "hg" in parts else "g"
        self.gen = parts[key]
        self.parts = {key: self.gen}
        self.gen_ddp = self.ddp(self.gen)

    def init_key(self) -> str:
        return next(iter(self.parts))

    def step(self, blurry: Tensor, sharp: Tensor, autocast: Autocast) -> dict[str, Tensor]:
        cfg = self.cfg
        with autocast():
            out = self.gen_ddp(blurry).float()
        change = None
        if cfg.w_flicker:
            # rows 2i, 2i+1: a pair and the next exposure, whose sharp frame is interpolated between source frames
            # (a little soft): it enters through the change from one to the other only, and the other terms see
            # the pairs' own real frames
            change = self.pixel_loss(losses.temporal_change(out), losses.temporal_change(sharp))
            out, sharp, blurry = out[0::2], sharp[0::2], blurry[0::2]
        t: dict[str, Tensor] = {f"loss_{cfg.loss}": self.pixel_loss(out, sharp, self.pixel_weight(blurry, sharp))}
        total = cfg.w_l1 * next(iter(t.values()))
        if cfg.w_grad:
            t["loss_grad"] = losses.gradient_l1(out, sharp)
            total = total + cfg.w_grad * t["loss_grad"]
        if cfg.w_fft:
            t["loss_fft"] = losses.fft_l1(out, sharp)
            total = total + cfg.w_fft * t["loss_fft"]
        if change is not None:
            t["loss_flicker"] = change
            total = total + cfg.w_flicker * change
        total = total + self.extra_terms(out, sharp, t)
        return self.update_generator(total, t)


class HGStage(SingleStage):
    """Chrysos et al. step 1: the hourglass, L1 only."""

    name = "hg"
    defaults = {"lr": 2e-4, "betas": (0.9, 0.999), "w_l1": 1.0, "w_grad": 0.0}


class RestoreStage(SingleStage):
    """The modern single-network recipe: Charbonnier + 0.1 x FFT L1, AdamW (0.9, 0.9), cosine decay,
    random patches of the decoded pair cache."""

    name = "restore"
    defaults = {"lr": 1e-3, "betas": (0.9, 0.9), "optimizer": "adamw", "lr_schedule": "cosine", "warmup": 500,
                "lr_min": 1e-6, "loss": "charbonnier", "w_l1": 1.0, "w_grad": 0.0, "w_fft": 0.1, "cache": True,
                "patch": 64, "crop_size": 128, "batch_size": 16}


class _GanForward(nn.Module):
    """One DDP forward for both generator pathways: (G_bl(x), G_s(y) or None)."""

    def __init__(self, generator: nn.Module) -> None:
        super().__init__()
        self.generator = generator

    def forward(self, x: Tensor, y: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        return self.generator.forward_bl(x), (self.generator.forward_s(y) if y is not None else None)


class CGANStage(Stage):
    """Chrysos et al. step 2: the two-pathway cGAN (G_bl on [blurry, HG(blurry)], G_s auto-encoding the
    sharp image, shared decoder), the HG frozen. Loss: adversarial + 100 L1 + 100 gradient L1
    + 8 projection (discriminator features) + 100 G_s reconstruction. With w_adv=0 and w_proj=0 the
    discriminator is neither run nor trained (the pixel terms alone). `loss` replaces the paper's L1 term
    (psnr: the loss the restore stage trains with)."""

    name = "cgan"

    def setup(self, parts: dict[str, nn.Module]) -> None:
        cfg = self.cfg
        if not hasattr(parts.get("g"), "forward_bl"):
            raise UserError(f"model {cfg.model} has no two-pathway generator; use --model hg-cgan or cgan")
        self.gen, self.disc = parts["g"], parts.get("d")
        if self.disc is None:
            raise UserError(f"model {cfg.model} has no discriminator for stage {cfg.stage}")
        self.parts = {"g": self.gen, "d": self.disc}
        if cfg.variant != "no-hg":
            self.hg = parts.get("hg")
            if self.hg is None:
                raise UserError(f"model {cfg.model} has no HG network; use variant no-hg or model hg-cgan")
            self.parts["hg"] = self.hg
            if cfg.hg_weights:
                load_into(self.hg, cfg.hg_weights, "hg")
            elif not cfg.init_weights and not self.loading:
                log.warning("[%s] no --set hg_weights=...: the HG of stage 2 is untrained", cfg.name)
            self.hg.eval()
            for p in self.hg.parameters():
                p.requires_grad_(False)
            if self.info.world > 1:  # frozen, not DDP-wrapped: make sure every rank has rank 0's
                for t in self.hg.state_dict().values():
                    dist.broadcast(t, 0)
        need = 3 if cfg.variant == "no-hg" else 6
        have = getattr(self.gen, "bl_channels", need)
        if have != need:
            raise UserError(f"model {cfg.model} takes {have} input channels; variant {cfg.variant} needs {need}")
        if cfg.variant == "single-pathway" and hasattr(self.gen, "enc_s"):
            for p in self.gen.enc_s.parameters():
                p.requires_grad_(False)
        self.gen_ddp = self.ddp(_GanForward(self.gen))

    def init_target(self, path: str) -> nn.Module:
        """A released engine holds G_bl's inference pathway only (TwoStep's net.g; G_s, which only the reconstruction
        term uses, starts afresh): its weights go into that pathway. A checkpoint holds the whole generator."""
        if path.endswith(".safetensors") and hasattr(self.gen, "bl_pathway"):
            return self.gen.bl_pathway()
        return self.gen

    def inference_net(self, gen: nn.Module) -> nn.Module:
        from streamdeblur.nets.composite import TwoStep

        pathway = gen.bl_pathway() if hasattr(gen, "bl_pathway") else gen
        return TwoStep(self.hg, pathway) if self.hg is not None else pathway

    def step(self, blurry: Tensor, sharp: Tensor, autocast: Autocast) -> dict[str, Tensor]:
        cfg = self.cfg
        if self.hg is not None:
            with torch.no_grad(), autocast():
                x = torch.cat([blurry, self.hg(blurry).float()], dim=1)
        else:
            x = blurry
        two = cfg.variant == "full" and cfg.w_recon > 0
        with autocast():
            out, recon = self.gen_ddp(x, sharp if two else None)
        out = out.float()
        t: dict[str, Tensor] = {f"loss_{cfg.loss}": self.pixel_loss(out, sharp, self.pixel_weight(blurry, sharp)),
                                "loss_grad": losses.gradient_l1(out, sharp)}
        total = cfg.w_l1 * t[f"loss_{cfg.loss}"] + cfg.w_grad * t["loss_grad"]
        if cfg.w_adv > 0 or cfg.w_proj > 0:  # without either term the discriminator is not used
            cond = self.condition(blurry)
            t["loss_d"] = self.disc_step(sharp, out, cond, autocast)
            assert self.disc is not None
            with autocast():
                fake_logits, fake_feat = self.disc.features(out, cond)
                with torch.no_grad():
                    _, real_feat = self.disc.features(sharp, cond)
            t["loss_adv"] = losses.generator_adversarial(fake_logits.float(), cfg.gan_loss)
            t["loss_proj"] = losses.projection_loss(fake_feat.float(), real_feat.float())
            total = total + cfg.w_adv * t["loss_adv"] + cfg.w_proj * t["loss_proj"]
        if recon is not None:
            t["loss_recon"] = losses.reconstruction_l1(recon.float(), sharp)
            total = total + cfg.w_recon * t["loss_recon"]
        total = total + self.extra_terms(out, sharp, t)
        return self.update_generator(total, t)


class MultiscaleStage(Stage):
    """Shen et al.: L1 on the image and its gradient structure at every scale, + adversarial at full scale."""

    name = "multiscale"
    defaults = {"lr": 1e-4, "betas": (0.9, 0.999), "w_adv": 0.01, "w_l1": 1.0, "w_perceptual": 0.1}

    def setup(self, parts: dict[str, nn.Module]) -> None:
        self.gen, self.disc = parts["g"], parts.get("d") if self.cfg.w_adv else None
        self.parts = {"g": self.gen, **({"d": self.disc} if self.disc is not None else {})}
        self.gen_ddp = self.ddp(self.gen)

    def step(self, blurry: Tensor, sharp: Tensor, autocast: Autocast) -> dict[str, Tensor]:
        from streamdeblur.nets.multiscale import structure_target

        cfg = self.cfg
        with autocast():
            res = self.gen_ddp(blurry)
        images = [i.float() for i in res["images"]]
        structs = [s.float() for s in res["structures"]]
        out = images[-1]
        t: dict[str, Tensor] = {}
        use_adv = self.disc is not None and cfg.w_adv > 0
        cond = self.condition(blurry)
        if use_adv:
            t["loss_d"] = self.disc_step(sharp, out, cond, autocast)
        t["loss_ms"] = losses.multiscale_l1(images, structs, sharp, cfg.w_structure, structure_target)
        total = cfg.w_l1 * t["loss_ms"]
        if use_adv:
            assert self.disc is not None
            with autocast():
                fake_logits = self.disc(out, cond)
            t["loss_adv"] = losses.generator_adversarial(fake_logits.float(), cfg.gan_loss)
            total = total + cfg.w_adv * t["loss_adv"]
        total = total + self.extra_terms(out, sharp, t)
        return self.update_generator(total, t)


STAGES: dict[str, type[Stage]] = {s.name: s for s in (SingleStage, HGStage, RestoreStage, CGANStage, MultiscaleStage)}


def stage_defaults(stage: str) -> dict[str, Any]:
    """Per-stage defaults that differ from the dataclass (applied by build_config before user overrides)."""
    return dict(STAGES[stage].defaults) if stage in STAGES else {}


def build_config(config_path: str | Path | None = None, assignments: list[str] | None = None, **flags: Any) -> TrainConfig:
    """Defaults < per-stage defaults < JSON file < `key=value` assignments < flags (None flags ignored).

    The stage whose defaults apply is the one asked for, else the model's own."""
    if config_path:
        base = TrainConfig.load(config_path)
    else:
        from streamdeblur.models import get_spec

        probe = TrainConfig().override(assignments, **flags)
        stage = probe.stage or get_spec(probe.model).stages[0] if get_spec(probe.model).stages else ""
        base = TrainConfig().override(**stage_defaults(stage))
    return base.override(assignments, **flags).validate()
