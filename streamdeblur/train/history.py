"""The validation curve of a model across runs: a run warm-started from another's checkpoint (init_weights)
records that run's curve (ancestry.json) when it starts, so a released engine's card can show every
step it was trained, with wall time, as one curve."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from streamdeblur.train.logs import read_rows

ANCESTRY = "ancestry.json"


def _val_rows(run_dir: Path) -> list[dict[str, float]]:
    return [{k: float(v) for k, v in row.items() if v not in ("", None)} for row in read_rows(run_dir / "val.csv")]


def record_ancestry(run_dir: Path, init_weights: str) -> None:
    """At the start of a warm-started run: keep the curve of what it starts from, a run's checkpoint (.pt) or
    a released engine (model.safetensors, whose card.json beside it holds the curve of every run behind it)."""
    source = Path(init_weights) if init_weights else None
    if source is None or not source.is_file():
        return
    if source.suffix == ".safetensors":
        card = source.parent / "card.json"
        chain = json.loads(card.read_text()).get("training", {}).get("curve") if card.is_file() else None
        if chain:
            (run_dir / ANCESTRY).write_text(json.dumps(chain, indent=1) + "\n")
        return
    if source.suffix != ".pt":
        return
    state = torch.load(str(source), map_location="cpu", weights_only=False)
    parent = source.parent
    step = int(state.get("step", 0))
    earlier = json.loads((parent / ANCESTRY).read_text()) if (parent / ANCESTRY).is_file() else []
    rows = [r for r in _val_rows(parent) if r.get("step", 0) <= step]
    entry = {"run": parent.name, "checkpoint": str(source), "steps": step, "wall_s": float(state.get("wall_time", 0.0)),
             "hardware": state.get("hardware"), "model": state.get("config", {}).get("model"), "val": rows}
    (run_dir / ANCESTRY).write_text(json.dumps(earlier + [entry], indent=1) + "\n")


def training_curve(run_dir: Path, steps: int, wall_s: float, hardware: str | None) -> list[dict[str, Any]]:
    """Every run of the chain ending at run_dir: its name, steps, wall time, hardware and its validation rows
    with cumulative step and wall time."""
    chain = json.loads((run_dir / ANCESTRY).read_text()) if (run_dir / ANCESTRY).is_file() else []
    chain = chain + [{"run": run_dir.name, "steps": steps, "wall_s": wall_s, "hardware": hardware,
                      "val": [r for r in _val_rows(run_dir) if r.get("step", 0) <= steps]}]
    out, step0, wall0 = [], 0, 0.0
    for entry in chain:
        rows = [{**r, "total_step": step0 + int(r["step"]), "total_wall_s": round(wall0 + r.get("wall_s", 0.0), 1)}
                for r in entry["val"]]
        out.append({k: entry.get(k) for k in ("run", "steps", "wall_s", "hardware", "model")} | {"val": rows})
        step0 += int(entry["steps"])
        wall0 += float(entry["wall_s"])
    return out


def plot_curve(curve: list[dict[str, Any]], path: Path, title: str) -> Path | None:
    """PNG of the validation gain (PSNR over the blurred input) against total steps, one colour per run."""
    if not any(entry["val"] for entry in curve):
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.2), dpi=110)
    for entry in curve:
        rows = [r for r in entry["val"] if "psnr" in r and "psnr_blurry" in r]
        if rows:
            line, = ax.plot([r["total_step"] for r in rows], [r["psnr"] - r["psnr_blurry"] for r in rows], marker=".",
                            label=f"{entry['run']} ({entry.get('hardware') or '?'})")
            # the same kind of pairs from the training clips (the gap is what was learnt by heart) and from the
            # training sources' clips that clip_share left out (the rest of the gap is the val clips' domain)
            for key, style, where in (("seen_gain_db", "--", "training clips"),
                                      ("unseen_gain_db", ":", "training clips left out")):
                more = [r for r in rows if key in r]
                if more:
                    ax.plot([r["total_step"] for r in more], [r[key] for r in more], ls=style,
                            color=line.get_color(), label=f"{entry['run']} on {where}")
    ax.axhline(0.0, color="grey", lw=0.8)
    ax.set_xlabel("training steps (all runs)")
    ax.set_ylabel("val PSNR gain over blurred (dB)")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
