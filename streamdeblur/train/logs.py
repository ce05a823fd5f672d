"""Run logs of the trainer: CSV rows, the loss-curve PNG, validation metrics, the progress bar."""

from __future__ import annotations

import csv
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor


def read_rows(path: Path) -> list[dict[str, str]]:
    """The rows of a CSV log as dicts of strings ([] when there is no file)."""
    if not path.exists():
        return []
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


class CsvLog:
    """Append-only CSV whose header is the keys in the order first seen (a row with a new key rewrites the file
    with the wider header, so a resumed run gains the columns of newer code); rows past a resumed step are
    dropped."""

    def __init__(self, path: Path, resume_step: int | None = None) -> None:
        self.path = path
        self.fields: list[str] | None = None
        if path.exists() and resume_step is not None:
            rows = read_rows(path)
            if rows:
                self.fields = list(rows[0].keys())
                rows = [r for r in rows if int(float(r["step"])) <= resume_step]
                self._write_all(rows)
        elif path.exists():
            path.unlink()

    def _write_all(self, rows: list[dict[str, Any]]) -> None:
        assert self.fields is not None
        tmp = self.path.with_suffix(".tmp")
        with tmp.open("w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=self.fields)
            writer.writeheader()
            writer.writerows(rows)
        os.replace(tmp, self.path)

    def write(self, row: dict[str, Any]) -> None:
        """Append one row; a key no row had before widens the header (earlier rows leave it empty)."""
        if self.fields is None:
            self.fields = list(row.keys())
            self._write_all([])
        elif any(k not in self.fields for k in row):
            rows = self.rows()
            self.fields += [k for k in row if k not in self.fields]
            self._write_all(rows)
        with self.path.open("a", newline="") as fh:
            csv.DictWriter(fh, fieldnames=self.fields).writerow(
                {k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})

    def rows(self) -> list[dict[str, str]]:
        """Everything written so far."""
        return read_rows(self.path)


def plot_curves(log_csv: Path, val_csv: Path, out_png: Path) -> Path:
    """Loss curves (log scale) and validation PSNR against steps, as a PNG (matplotlib Agg)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows, val = read_rows(log_csv), read_rows(val_csv)
    fig, axes = plt.subplots(1, 2 if val else 1, figsize=(12 if val else 7, 4), squeeze=False)
    ax = axes[0][0]
    if rows:
        steps = [float(r["step"]) for r in rows]
        for key in rows[0]:
            if key.startswith("loss"):
                ys = [abs(float(r[key])) + 1e-12 if r[key] else math.nan for r in rows]
                ax.plot(steps, ys, label=key, linewidth=1)
        ax.set_yscale("log")
        ax.legend(fontsize=7)
    ax.set_xlabel("step")
    ax.set_title("training losses")
    if val:
        ax2 = axes[0][1]
        vs = [float(r["step"]) for r in val]
        ax2.plot(vs, [float(r["psnr"]) for r in val], "o-", label="model (EMA)")
        ax2.plot(vs, [float(r["psnr_blurry"]) for r in val], "--", label="blurry input")
        ax2.set_xlabel("step")
        ax2.set_ylabel("PSNR (dB)")
        ax2.set_title("validation")
        ax2.legend(fontsize=7)
    fig.tight_layout()
    tmp = out_png.with_name(out_png.stem + ".tmp.png")
    fig.savefig(tmp, dpi=90)
    plt.close(fig)
    os.replace(tmp, out_png)
    return out_png


def _to_bgr_uint8(x: Tensor) -> list[np.ndarray]:
    arr = (x.detach().float().clamp(0, 1) * 255.0 + 0.5).to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
    return [np.ascontiguousarray(a[..., ::-1]) for a in arr]


def image_metrics(output: Tensor, target: Tensor) -> tuple[list[float], list[float]]:
    """Per-image PSNR and SSIM (eval.metrics: uint8 BGR, data range 255)."""
    from streamdeblur.eval import metrics

    outs, tgts = _to_bgr_uint8(output), _to_bgr_uint8(target)
    psnrs = [min(metrics.psnr(o, t), 100.0) for o, t in zip(outs, tgts)]
    ssims = [metrics.ssim(o, t) for o, t in zip(outs, tgts)]
    return psnrs, ssims
