"""`streamdeblur eval --gating`: which cheap per-face blur estimate predicts what the engine gains?

On multi-frame groups (make-pairs --method motion --frames K), for every pair: the engine's gain
(PSNR of its output minus the blurred input's, against the sharp face) and three estimates that cost
far less than the engine:
- track motion: how far the face's alignment moved between consecutive exposures, in crop pixels
  (what `process` measures from the tracker: restore.blur_estimate);
- sharpness: variance of the Laplacian of the blurred crop (low = blurry; content-dependent);
- gradient energy: mean squared Sobel gradient of the blurred crop.
Reported: Spearman rank correlation of each with the gain, and the gain of the faces each would gate
at the level that gates 40 % of them (what gating gives up).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from streamdeblur.data import blur as blurlib
from streamdeblur.eval.motion import matrix_motion


def _rank(x: np.ndarray) -> np.ndarray:
    order = np.argsort(x, kind="stable")
    ranks = np.empty(len(x))
    ranks[order] = np.arange(len(x))
    return ranks


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation (no tie correction)."""
    if len(a) < 3:
        return float("nan")
    return float(np.corrcoef(_rank(np.asarray(a)), _rank(np.asarray(b)))[0, 1])


def estimates(sample: Any) -> dict[str, float]:
    """The cheap blur estimates of one PairSample (track motion needs its group's alignments)."""
    size = sample.blurred.shape[0]
    mats = sample.meta.get("group_matrices") or []
    motion = float("nan")
    if len(mats) >= 2:
        k = len(mats) // 2
        motion = float(np.mean([matrix_motion(mats[i], mats[i + 1], size) for i in (k - 1, k) if 0 <= i < len(mats) - 1]))
    return {"track_motion": motion, "sharpness": blurlib.sharpness(sample.blurred),
            "gradient_energy": blurlib.gradient_energy(sample.blurred)}


def gating_report(samples: list[Any], outputs: list[np.ndarray | None], out_dir: Path, model: str) -> dict[str, Any]:
    """Correlate each estimate with the engine's gain; write gating.json and gating.md."""
    from streamdeblur.eval import metrics

    rows = []
    for s, out in zip(samples, outputs):
        if out is None:
            continue
        gain = metrics.psnr(out, s.sharp) - metrics.psnr(s.blurred, s.sharp)
        if np.isfinite(gain):
            rows.append({"gain": gain, **estimates(s)})
    gains = np.array([r["gain"] for r in rows])
    result: dict[str, Any] = {"model": model, "faces": len(rows), "mean_gain_db": round(float(gains.mean()), 4)
                              if len(gains) else None, "estimates": {}}
    for name, sign in (("track_motion", 1), ("sharpness", -1), ("gradient_energy", -1)):
        values = np.array([r[name] for r in rows])
        ok = np.isfinite(values)
        if ok.sum() < 3:
            continue
        score = sign * values[ok]  # higher = blurrier
        level = np.quantile(score, 0.4)
        gated = score <= level
        result["estimates"][name] = {
            "spearman_with_gain": round(spearman(score, gains[ok]), 4),
            "gain_of_the_40pct_gated_db": round(float(gains[ok][gated].mean()), 4),
            "gain_of_the_rest_db": round(float(gains[ok][~gated].mean()), 4),
            "level_gating_40pct": round(float(sign * level), 4)}
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "gating.json").write_text(json.dumps(result, indent=1) + "\n")
    lines = [f"# Which blur estimate predicts the gain of {model}? ({len(rows)} faces)", "",
             "| estimate | Spearman with gain | gain of the 40 % it gates (dB) | gain of the rest (dB) | level |",
             "|---|---|---|---|---|"]
    for name, r in result["estimates"].items():
        lines.append(f"| {name} | {r['spearman_with_gain']:+.3f} | {r['gain_of_the_40pct_gated_db']:+.3f} | "
                     f"{r['gain_of_the_rest_db']:+.3f} | {r['level_gating_40pct']:g} |")
    (out_dir / "gating.md").write_text("\n".join(lines) + "\n")
    return result


def run_gating(pairs_dir: Path, options: Any) -> dict[str, Any]:
    """eval --gating: the first --model on the pairs (at most --limit a blur type), then gating_report."""
    from streamdeblur.eval.run import build_engine, engine_method, load_pairs, model_weights

    models = model_weights(options)
    if not models:
        from streamdeblur.errors import UserError

        raise UserError("--gating needs --model NAME (the engine whose gain the estimates should predict)")
    name, weights = models[0]
    samples = [s for s in load_pairs(pairs_dir, options.limit) if s.meta.get("group_matrices")]
    if not samples:
        from streamdeblur.errors import UserError

        raise UserError(f"--gating needs multi-frame groups (make-pairs --method motion --frames 3) under {pairs_dir}")
    method = engine_method(name, build_engine(name, weights, options), options.batch_size)
    outputs: list[np.ndarray | None] = []
    for start in range(0, len(samples), options.batch_size):
        outputs += method.run(samples[start:start + options.batch_size])
    return gating_report(samples, outputs, options.output, name)
