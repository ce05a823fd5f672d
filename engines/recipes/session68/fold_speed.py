"""Session 68: a NAFNet engine as trained against folded (models.inference_form), in ONNX Runtime on one thread:
milliseconds a crop, alternating rounds, and the largest difference between their outputs.

    python engines/recipes/session68/fold_speed.py [MODEL] [ROUNDS]     # default naf, 10
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from streamdeblur.backends.onnx_backend import _export, session
from streamdeblur.models import get_spec, inference_form, load_model


def main() -> None:
    name = sys.argv[1] if len(sys.argv) > 1 else "naf"
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    spec = get_spec(name)
    trained = load_model(name)
    forms = {"as trained": trained, "folded": inference_form(trained)}
    size, channels = spec.input_size, 3 * spec.frames
    with tempfile.TemporaryDirectory() as tmp:
        sessions = {}
        for label, module in forms.items():
            path = Path(tmp) / f"{label.replace(' ', '-')}.onnx"
            _export(module.eval(), torch.rand(2, channels, size, size), path)
            sessions[label] = session(path, threads=1)
        x = np.random.default_rng(0).random((8, channels, size, size), dtype=np.float32)
        outputs = {label: s.run(None, {"image": x})[0] for label, s in sessions.items()}
        times: dict[str, list[float]] = {label: [] for label in sessions}
        for r in range(rounds):
            for label in (list(sessions) if r % 2 == 0 else list(sessions)[::-1]):
                start = time.perf_counter()
                for _ in range(3):
                    sessions[label].run(None, {"image": x})
                times[label].append((time.perf_counter() - start) / (3 * len(x)) * 1000)
    for label, values in times.items():
        print(f"{name} {label}: {np.median(values):.1f} ms a crop (median of {rounds})")
    print(f"largest output difference: {np.abs(outputs['as trained'] - outputs['folded']).max():.1e}")


if __name__ == "__main__":
    main()
