"""Release a training checkpoint as an engine: engines/<name>/ with fp16 EMA weights, card.json and README.md."""

from __future__ import annotations

import json
import math
import os
import re
import shutil
from pathlib import Path
from typing import Any

import torch
from torch import nn

from streamdeblur.errors import UserError, short_reason
from streamdeblur.paths import existing_ancestor
from streamdeblur.train.config import TrainConfig
from streamdeblur.train.stages import CHECKPOINT, CHECKPOINT_FORMAT


def card_metrics(report_json: str | Path) -> dict[str, Any]:
    """The part of an `eval` report.json that goes into an engine card: command, conventions, summary rows."""
    path = Path(report_json)
    if path.is_dir():
        path = path / "report.json"
    try:
        report = json.loads(path.read_text())
        rows = report["summary"]
    except FileNotFoundError:
        raise UserError(f"eval report not found: {path} (make it with `streamdeblur eval ... -o DIR`)") from None
    except IsADirectoryError:
        raise UserError(f"{path} is a folder without report.json: give an `eval -o` folder or its report.json") from None
    except (ValueError, KeyError, TypeError):  # not JSON (or not text), or not an eval report
        raise UserError(f"{path} is not a report.json written by `streamdeblur eval`") from None
    settings = report.get("settings", {})
    return {"command": report.get("command"), "conventions": report.get("conventions"),
            "source": settings.get("source"), "faces": settings.get("faces"), "rows": rows}


def _load_checkpoint(checkpoint: str | Path) -> tuple[Path, dict[str, Any]]:
    """A run directory or .pt file, or a run's name (`train --name`: <cache>/runs/NAME) -> (the checkpoint's path,
    its state)."""
    from streamdeblur.train.trainer import default_run_dir

    checkpoint = Path(checkpoint)
    if not checkpoint.exists() and len(checkpoint.parts) == 1 and default_run_dir(checkpoint.name).is_dir():
        checkpoint = default_run_dir(checkpoint.name)  # the name train --name gave it
    if checkpoint.is_dir():
        checkpoint = checkpoint / CHECKPOINT
    if not checkpoint.is_file():
        raise UserError(f"checkpoint not found: {checkpoint}")
    hint = "give a run folder of `streamdeblur train`, or its last.pt or best.pt"
    try:
        state = torch.load(str(checkpoint), map_location="cpu", weights_only=False)
    except Exception as exc:  # noqa: BLE001 - a video, a damaged or foreign file: the user's to fix
        raise UserError(f"{checkpoint} is not a training checkpoint (it cannot be read: {short_reason(exc)}); "
                        f"{hint}") from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise UserError(f"{checkpoint} is not a streamdeblur training checkpoint; {hint}")
    return checkpoint, state


# what release writes into an engine folder; whatever else is there (NOTES.md, ...) is kept across releases
RELEASED = ("model.safetensors", "card.json", "README.md", "val_curve.png")
ENGINE_NAME = re.compile(r"[A-Za-z0-9_.-]+")


def check_engine_name(name: str) -> None:
    """UserError for an engine name that is not a plain folder name (engines/<name>: no path in it)."""
    if not ENGINE_NAME.fullmatch(name) or name in (".", ".."):
        raise UserError(f"engine name {name!r} is not a plain folder name: use letters, digits, '-', '_' and '.' "
                        "only (no '/'; not '.' or '..'), and -o FOLDER to write elsewhere")


def check_release_folder(folder: Path, force: bool) -> None:
    """UserError when folder is a file, or already holds an engine and force is not given."""
    if folder.exists() and not folder.is_dir():
        raise UserError(f"{folder} is a file, not an engine folder: give another -o FOLDER")
    if folder.is_dir() and any((folder / n).exists() for n in RELEASED) and not force:
        raise UserError(f"{folder} already holds an engine: add --force to replace it (its NOTES.md and other "
                        "files are kept), or give another name or -o FOLDER")
    if not os.access(existing_ancestor(folder.absolute()), os.W_OK):
        raise UserError(f"cannot write the engine folder {folder}: its folder is not writable")


def _carry(old: Path, new: Path) -> None:
    """Everything of an engine folder that release does not write (NOTES.md, exports, ...) into the new one
    (hard links where the file system has them: nothing is copied twice)."""
    for item in old.iterdir():
        if item.name in RELEASED:
            continue
        if item.is_dir() and not item.is_symlink():
            shutil.copytree(item, new / item.name, symlinks=True, copy_function=_link_or_copy)
        else:
            _link_or_copy(item, new / item.name)


def _link_or_copy(src: str | Path, dst: str | Path) -> None:
    try:
        if Path(src).is_symlink():
            raise OSError
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst, follow_symlinks=False)


def _swap_in(staged: Path, folder: Path) -> None:
    """Put the complete staged folder in folder's place (the old one, if any, is removed only once it has)."""
    if not folder.exists():
        os.replace(staged, folder)
        return
    old = folder.with_name(f".{folder.name}.old-{os.getpid()}")
    shutil.rmtree(old, ignore_errors=True)
    os.replace(folder, old)
    try:
        os.replace(staged, folder)
    except BaseException:
        os.replace(old, folder)
        raise
    shutil.rmtree(old, ignore_errors=True)


def average_weights(base: dict[str, torch.Tensor], others: list[tuple[dict[str, torch.Tensor], float]]
                    ) -> dict[str, torch.Tensor]:
    """(1 - the others' weights' sum) x base + each other state dict x its weight, in fp32, back in base's dtypes;
    tensors that are not floating point are base's. The callers check that the state dicts are one network's."""
    total = sum(w for _, w in others)
    mixed = {k: v.float() * (1.0 - total) if v.is_floating_point() else v for k, v in base.items()}
    for theirs, w in others:
        for k, v in theirs.items():
            if v.is_floating_point():
                mixed[k] += v.float() * w
    return {k: v.to(base[k].dtype) for k, v in mixed.items()}


def soup_ema(state: dict[str, Any], others: list[tuple[Path, dict[str, Any], float]]) -> dict[str, Any]:
    """A weight average ("model soup") of several runs' EMA weights: each of others (checkpoint, state, weight)
    with its weight, the first run with what is left (1 - their sum). The runs must share the network (same
    model, same shapes); averaging only pays between fine-tunings of one starting point."""
    total = sum(w for _, _, w in others)
    if not others or any(not 0.0 < w < 1.0 for _, _, w in others) or total >= 1.0:
        raise UserError(f"--soup weights must each lie in (0, 1) and sum to less than 1, got {[w for _, _, w in others]}")
    base = state["ema"]["module"]
    for path, other, _ in others:
        theirs = other["ema"]["module"]
        if other["config"].get("model") != state["config"].get("model") or theirs.keys() != base.keys() or any(
                theirs[k].shape != base[k].shape for k in base):
            raise UserError(f"--soup {path}: the runs are not the same network "
                            f"({other['config'].get('model')} against {state['config'].get('model')})")
    mixed = average_weights(base, [(other["ema"]["module"], w) for _, other, w in others])
    return {"module": mixed, "updates": state["ema"]["updates"]}


def release(checkpoint: str | Path, name: str, out_dir: str | Path | None = None,
            parts: dict[str, nn.Module] | None = None, metrics: str | Path | None = None,
            gate: float | None = None, settle: tuple[float, float] | None = None,
            soup: list[tuple[str | Path, float]] | None = None, extra: dict[str, Any] | None = None,
            force: bool = False) -> Path:
    """Write <engines>/<name>/model.safetensors (fp16 EMA inference weights) + card.json + README.md; returns the folder.

    README.md is generated from the card, followed by the folder's NOTES.md when there is one.
    metrics: an `eval` report (its folder or report.json) measured on these weights, copied into the card.
    gate: the engine's default gate level for `process` (faces whose track moves less, in crop pixels a
    frame, bypass it); kept from the previous card when not given.
    settle: (LOW, HIGH) grey levels: corrections smaller on average are faded out (backends.SettledEngine);
    kept from the previous card when not given. Both are measured per engine: a new release keeps them, re-check.
    So is the previous card's "tlc" (a NAFNet engine's test-time pooling window, nets/nafnet.py).
    soup: other runs (RUN, WEIGHT) whose EMA weights are averaged in with these weights (soup_ema).
    extra: more top-level card fields (e.g. `adapt`'s "adapted").
    force: replace an engine already in the folder (else a UserError). The new folder is written complete beside
    it, with the old folder's other files (NOTES.md, ...), then renamed into its place.
    """
    from streamdeblur.models import engine_folder, save_weights
    from streamdeblur.train.trainer import Trainer

    check_engine_name(name)
    if gate is not None and not (math.isfinite(gate) and gate >= 0):
        raise UserError(f"--gate must be 0 or more crop pixels a frame (0: no gate), got {gate}")
    folder = Path(out_dir) if out_dir else engine_folder(name)
    check_release_folder(folder, force)
    measured = card_metrics(metrics) if metrics is not None else {}
    checkpoint, state = _load_checkpoint(checkpoint)
    others = [(*_load_checkpoint(run), float(w)) for run, w in soup or []]
    if others:
        state = dict(state, ema=soup_ema(state, others))
    cfg = TrainConfig.from_dict(state["config"])
    cfg = cfg.override(run_dir=str(checkpoint.parent), vgg19="", identity_model="", hg_weights="", init_weights="")
    os.environ.setdefault("WORLD_SIZE", "1")
    trainer = Trainer(cfg, parts=parts, device="cpu", loading=True)
    for k, m in trainer.parts.items():
        m.load_state_dict(state["models"][k])
    trainer.ema.load_state_dict(state["ema"])
    module = trainer.inference_module()
    try:
        previous = json.loads((folder / "card.json").read_text()) if (folder / "card.json").is_file() else {}
    except ValueError:
        previous = {}  # a damaged card: nothing to keep from it
    if gate is None:
        gate = previous.get("gate")
    if settle is None:
        settle = previous.get("settle")
    if settle is not None:
        from streamdeblur.backends import check_settle

        check_settle(*settle)
    if previous.get("tlc"):
        extra = {"tlc": previous["tlc"], **(extra or {})}
    folder.parent.mkdir(parents=True, exist_ok=True)
    staged = folder.with_name(f".{folder.name}.partial-{os.getpid()}")
    shutil.rmtree(staged, ignore_errors=True)
    staged.mkdir()
    try:
        if folder.is_dir():
            _carry(folder, staged)
        _write_engine(staged, name, module, cfg, state, measured, gate, settle, extra, checkpoint, others,
                      save_weights)
        _swap_in(staged, folder)
    finally:
        shutil.rmtree(staged, ignore_errors=True)
    return folder


def _write_engine(folder: Path, name: str, module: nn.Module, cfg: TrainConfig, state: dict[str, Any],
                  measured: dict[str, Any], gate: float | None, settle: Any, extra: dict[str, Any] | None,
                  checkpoint: Path, others: list, save_weights: Any) -> None:
    """The engine's files (weights, card, curve, README) into folder."""
    save_weights(module, folder / "model.safetensors")
    card = {
        "name": name,
        "model": cfg.model,
        "stage": cfg.stage,
        "variant": cfg.variant if cfg.stage == "cgan" else None,
        "input_size": cfg.crop_size,
        "parameters": sum(p.numel() for p in module.parameters()),
        "weights": "model.safetensors (fp16, EMA of the generator)",
        "training": {
            "data": cfg.data,
            "val_data": cfg.val_data,
            "steps": state["step"],
            "wall_time_s": round(state["wall_time"], 1),
            "hardware": state.get("hardware"),
            "processes": state.get("world", 1),
            "perceptual_loss": bool(cfg.vgg19),
            "identity_loss": bool(cfg.identity_model),
            "config": state["config"],
        },
        "metrics": measured,
        "gate": gate,
        "settle": list(settle) if settle is not None else None,
        **(extra or {}),
    }
    from streamdeblur.train.history import plot_curve, training_curve

    curve = training_curve(checkpoint.parent, int(state["step"]), float(state["wall_time"]), state.get("hardware"))
    card["training"]["curve"] = curve  # validation gain against steps across every run (warm starts included)
    card["training"]["total_steps"] = sum(int(e["steps"]) for e in curve)
    card["training"]["total_wall_time_s"] = round(sum(float(e["wall_s"]) for e in curve), 1)
    if others:  # the souped runs' own training (their shared ancestry is in the curve already)
        card["training"]["soup"] = [{"run": str(c.parent), "weight": w, "steps": int(s["step"]),
                                     "wall_time_s": round(float(s["wall_time"]), 1)} for c, s, w in others]
        card["training"]["soup_base_weight"] = round(1.0 - sum(w for _, _, w in others), 6)
        card["training"]["total_steps"] += sum(int(s["step"]) for _, s, _ in others)
        card["training"]["total_wall_time_s"] = round(
            card["training"]["total_wall_time_s"] + sum(float(s["wall_time"]) for _, s, _ in others), 1)
    plot_curve(curve, folder / "val_curve.png", f"{name}: validation gain over the blurred input")
    (folder / "card.json").write_text(json.dumps(card, indent=2) + "\n")
    (folder / "README.md").write_text(engine_readme(card, folder))


def engine_readme(card: dict[str, Any], folder: Path) -> str:
    """An engine folder's README.md: its card for people, then the folder's NOTES.md (hand-written prose kept
    across releases: status, caveats, what is next) when there is one."""
    notes = folder / "NOTES.md"
    return _card_markdown(card) + ("\n" + notes.read_text() if notes.is_file() else "")


def _card_markdown(card: dict[str, Any]) -> str:
    tr = card["training"]
    lines = [
        f"# {card['name']}",
        "",
        f"Model `{card['model']}` (stage {card['stage']}{', variant ' + card['variant'] if card['variant'] else ''}), "
        f"{card['parameters']:,} parameters, {card['input_size']} px faces."
        + (f" `process` gates faces whose track moves less than {card['gate']:g} crop pixels a frame (`--gate`)."
           if card.get("gate") else "")
        + (f" It leaves a face as it came when its mean correction is under {card['settle'][0]:g} grey levels, "
           f"and fades the correction in up to {card['settle'][1]:g} (settle; `--no-gate`: none)."
           if card.get("settle") else "")
        + (f" Its channel attention pools over windows of {card['tlc']} px at full resolution (TLC, "
           "nets/nafnet.py) instead of the whole crop." if card.get("tlc") else ""),
        "",
        "## Training",
        "",
        f"- data: `{tr['data']}` (validation: `{tr['val_data'] or 'held-out split of the same pairs'}`)",
        f"- steps: {tr['steps']}, wall time {tr['wall_time_s']} s on {tr['hardware']} x {tr['processes']} process(es)",
        *_curve_lines(tr),
        *([f"- weights: a soup (weight average) of this run's EMA x {tr['soup_base_weight']:g} and "
           + ", ".join(f"`{Path(e['run']).name}` ({e['steps']} steps) x {e['weight']:g}" for e in tr["soup"])]
          if tr.get("soup") else []),
        f"- perceptual (VGG19) loss: {'yes' if tr['perceptual_loss'] else 'no (no VGG19 weights given)'}; "
        f"identity loss: {'yes' if tr['identity_loss'] else 'no'}",
        "",
        "## Metrics",
        "",
    ]
    metrics = card.get("metrics") or {}
    if not metrics.get("rows"):
        return "\n".join(lines + ["Not measured yet: run `streamdeblur eval` and release again with --metrics.", ""])
    from streamdeblur.eval.report import COLUMNS, blur_tables

    lines += [f"Command: `{metrics['command']}`", ""]
    groups = list(dict.fromkeys(r["group"] for r in metrics["rows"]))
    lines += blur_tables(metrics["rows"], groups, COLUMNS, heading="###")
    if metrics.get("conventions"):
        lines += [f"Conventions: {metrics['conventions']}", ""]
    return "\n".join(lines)


def _curve_lines(training: dict[str, Any]) -> list[str]:
    """The runs behind the weights and the validation curve (val_curve.png), for the card."""
    curve = training.get("curve") or []
    if not curve:
        return []
    lines = [f"- in all: {training['total_steps']} steps, {training['total_wall_time_s'] / 3600:.1f} h over "
             f"{len(curve)} run(s): " + ", ".join(f"`{e['run']}` {e['steps']} steps on {e.get('hardware')}" for e in curve)]
    rows = [r for e in curve for r in e["val"] if "psnr" in r and "psnr_blurry" in r]
    if rows:
        picks = rows[:: max(1, len(rows) // 8)] + ([rows[-1]] if len(rows) > 1 else [])
        done = set()
        memo = any("seen_gain_db" in r for r in rows)  # the gain on training clips, where it was measured
        left = any("unseen_gain_db" in r for r in rows)  # and on the training clips a clip_share left out
        lines += ["", "Validation (held-out clips) against total steps: gain = PSNR of the output minus the blurred "
                  "input's." + (" Dashed, and the column \"on training clips\": the same gain on pairs of the "
                                "training clips (the gap is what the net learnt by heart)." if memo else "")
                  + (" Dotted, and the last column: on pairs of the training sources' clips that the run's clip "
                     "share left out (held out like val; what separates them from val is the val clips' own "
                     "domain)." if left else ""),
                  "", "![validation curve](val_curve.png)", "",
                  "| total step | hours | PSNR blurred | PSNR out | gain dB | SSIM out |"
                  + (" on training clips |" if memo else "") + (" on clips left out |" if left else ""),
                  "|---|---|---|---|---|---|" + ("---|" if memo else "") + ("---|" if left else "")]
        for r in picks:
            if r["total_step"] in done:
                continue
            done.add(r["total_step"])
            line = (f"| {r['total_step']} | {r['total_wall_s'] / 3600:.2f} | {r['psnr_blurry']:.2f} | "
                    f"{r['psnr']:.2f} | {r['psnr'] - r['psnr_blurry']:+.2f} | {r.get('ssim', float('nan')):.4f} |")
            for key, shown in (("seen_gain_db", memo), ("unseen_gain_db", left)):
                if shown:
                    line += f" {r[key]:+.2f} |" if key in r else " |"
            lines.append(line)
        lines.append("")
    return lines
