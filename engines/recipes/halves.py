"""A held-out clip split in time for the adapt protocol (engines/naf-hd/NOTES.md, sessions 29 and 38): its first half
to restore in WORK/first/NAME, its second half (the reference to adapt on) in WORK/second/NAME, both lossless;
halves already there are kept.

    python engines/recipes/halves.py CLIP WORK [NAME]   (NAME: the clip's file name by default)
"""

from __future__ import annotations

import sys
from pathlib import Path

from streamdeblur.eval.video import read_frames, write_video


def main() -> None:
    clip, work = Path(sys.argv[1]), Path(sys.argv[2])
    name = sys.argv[3] if len(sys.argv) > 3 else clip.name
    frames, fps = read_frames(clip, None)
    half = len(frames) // 2
    for folder, part in (("first", frames[:half]), ("second", frames[half:])):
        if not (work / folder / name).exists():
            (work / folder).mkdir(parents=True, exist_ok=True)
            write_video(work / folder / name, part, fps)  # lossless


if __name__ == "__main__":
    main()
