"""Where an engine's gain comes from: per-face PSNR gain over the blurred input, binned by how good the
blurred face already was (its own PSNR against the sharp one) and split by whether the pair was re-encoded
(a pair whose metadata has `crf` > 0: x264 ran on the blurred frames) or left clean.

A blur-type row averages faces whose loss can be mostly codec noise (a compressed exposure of a face that
hardly moved) or mostly blur (a clean exposure); an engine that only cleans up the codec and one that
deblurs can post the same mean. This table and its plot tell them apart."""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

EDGES = (-math.inf, 26.0, 30.0, 34.0, 38.0, 45.0, math.inf)


def bin_label(lo: float, hi: float) -> str:
    if math.isinf(lo):
        return f"< {hi:g} dB"
    if math.isinf(hi):
        return f">= {lo:g} dB"
    return f"{lo:g}-{hi:g} dB"


def condition(meta: dict[str, Any]) -> str | None:
    """'re-encoded' / 'clean' for pairs whose metadata says (a `crf` entry), None when it does not."""
    if "crf" not in meta:
        return None
    try:
        return "re-encoded" if float(meta["crf"]) > 0 else "clean"
    except (TypeError, ValueError):
        return None


def gain_by_input(blurred_psnr: Sequence[float], method_psnr: dict[str, Sequence[float]],
                  conditions: Sequence[str | None], edges: Sequence[float] = EDGES) -> list[dict[str, Any]]:
    """Rows {condition, bin, lo, hi, n, blurred, gains: {method: mean dB gain}} for each (condition, bin) with
    faces. blurred_psnr and each method's list hold one value per face (the same faces in the same order; NaN
    for a face a method did not restore); faces whose blurred PSNR is not finite (identical to the sharp one)
    are left out, as are method values that are not finite. Conditions: 'all', then each named one present."""
    blurred = np.asarray(blurred_psnr, dtype=np.float64)
    names = ["all"] + sorted({c for c in conditions if c is not None})
    rows = []
    for name in names:
        in_condition = np.array([name == "all" or c == name for c in conditions], dtype=bool)
        if name != "all" and len(names) == 2:
            continue  # one named condition only: it is the same faces as 'all'
        for lo, hi in zip(edges[:-1], edges[1:]):
            chosen = in_condition & np.isfinite(blurred) & (blurred >= lo) & (blurred < hi)
            if not chosen.any():
                continue
            gains = {}
            for method, values in method_psnr.items():
                v = np.asarray(values, dtype=np.float64)
                ok = chosen & np.isfinite(v)
                gains[method] = float(np.mean(v[ok] - blurred[ok])) if ok.any() else math.nan
            rows.append({"condition": name, "bin": bin_label(lo, hi), "lo": lo, "hi": hi, "n": int(chosen.sum()),
                         "blurred": float(np.mean(blurred[chosen])), "gains": gains})
    return rows


def markdown(rows: list[dict[str, Any]], methods: list[str]) -> list[str]:
    """A markdown section: one table, a row per (condition, input bin), a column per method (mean gain, dB)."""
    if not rows:
        return []
    head = "| pairs | blurred PSNR | n | mean input | " + " | ".join(methods) + " |"
    lines = ["## Gain by input quality", "",
             "Mean per-face PSNR gain over the blurred input (dB), by the blurred face's own PSNR; 're-encoded': "
             "pairs whose blurred frames went through x264, 'clean': not.", "",
             head, "|" + "---|" * (4 + len(methods))]
    for r in rows:
        cells = [f"{r['gains'].get(m, math.nan):+.2f}" if math.isfinite(r["gains"].get(m, math.nan)) else "—"
                 for m in methods]
        lines.append(f"| {r['condition']} | {r['bin']} | {r['n']} | {r['blurred']:.2f} | " + " | ".join(cells) + " |")
    return lines + [""]


def plot(rows: list[dict[str, Any]], methods: list[str], path: Any) -> Any:
    """Mean gain against the mean input PSNR of each bin: a line per method, solid for all faces, dashed for
    re-encoded, dotted for clean ones."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    styles = {"all": "-", "re-encoded": "--", "clean": ":"}
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for k, method in enumerate(methods):
        for name, style in styles.items():
            chosen = [r for r in rows if r["condition"] == name and math.isfinite(r["gains"].get(method, math.nan))]
            if chosen:
                ax.plot([r["blurred"] for r in chosen], [r["gains"][method] for r in chosen], style, marker="o",
                        ms=3, color=colours[k % len(colours)], label=f"{method} ({name})")
    ax.axhline(0.0, color="grey", lw=1)
    ax.set(xlabel="blurred face PSNR (dB, bin mean)", ylabel="gain over the blurred input (dB)",
           title="gain by input quality")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
