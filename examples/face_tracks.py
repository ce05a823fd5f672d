"""Print the face tracks of a video, frame by frame: python examples/face_tracks.py IN.mp4"""

import sys

from streamdeblur.faces.detect import create_detector
from streamdeblur.faces.track import Tracker
from streamdeblur.io.source import open_source

source = open_source(sys.argv[1])
detector, tracker = create_detector("yunet"), Tracker()
for frame in source:
    for track in tracker.update(detector.detect(frame.image)):
        x1, y1, x2, y2 = track.box.round().astype(int)
        print(f"frame {frame.index} t={frame.time:.3f}s track {track.track_id} box {x1},{y1},{x2},{y2}")
source.close()
