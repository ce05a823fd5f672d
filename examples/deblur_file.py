"""Deblur the faces of a video file from Python: python examples/deblur_file.py IN.mp4 OUT.mp4 [MODEL]"""

import json
import sys

from streamdeblur.pipeline import ProcessOptions, process

source, target = sys.argv[1], sys.argv[2]
model = sys.argv[3] if len(sys.argv) > 3 else "fast"
summary = process(source, target, ProcessOptions(model=model, batch_size=8, detect_every=2))
print(json.dumps({k: summary[k] for k in ("frames", "faces", "tracks", "fps")}))
