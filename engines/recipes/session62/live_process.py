"""Session 62: `process - --adapt` fed like a camera: a clip's frames played back and forth into one MPEG-TS stream of
SECONDS, piped at real-time pace (a pipe that the pipeline cannot keep up with backs up, as a camera's frames would
queue or drop). Prints when the recording ended, when the adapted engine took over (wall clock and frame), and the
output frames per second before and after the hand-over (from the times the output file grew).

    python engines/recipes/session62/live_process.py CLIP SECONDS OUT_DIR [process options...]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from streamdeblur.eval.video import read_frames, write_video
from streamdeblur.io.clips import remux


def main() -> None:
    clip, seconds, out = Path(sys.argv[1]), float(sys.argv[2]), Path(sys.argv[3])
    out.mkdir(parents=True, exist_ok=True)
    frames, fps = read_frames(clip, None)
    loop = frames + frames[-2:0:-1]  # back and forth: no jump at the seams
    total = int(seconds * fps)
    stream = out / "stream.ts"
    if not stream.is_file():
        mp4 = write_video(out / "stream.mp4", [loop[i % len(loop)] for i in range(total)], fps)
        remux(mp4, stream, format="mpegts")
    data = stream.read_bytes()
    env = {**os.environ, "STREAMDEBLUR_CACHE": str(out / "cache")}
    cmd = [sys.executable, "-m", "streamdeblur", "process", "-", "-o", str(out / "out.ts"), "--format", "mpegts",
           "--adapt", "--summary-json", str(out / "summary.json"), *sys.argv[4:]]
    started = time.monotonic()
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    events = []

    def read_stderr() -> None:
        for line in proc.stderr:
            events.append((time.monotonic() - started, line.decode(errors="replace").rstrip()))

    reader = threading.Thread(target=read_stderr, daemon=True)
    reader.start()
    chunk = max(1, len(data) // int(seconds * 10))
    for i in range(0, len(data), chunk):  # a tenth of a second of stream at a time, paced to the clock
        due = started + seconds * i / len(data)
        time.sleep(max(0.0, due - time.monotonic()))
        proc.stdin.write(data[i:i + chunk])
        proc.stdin.flush()
    proc.stdin.close()
    fed = time.monotonic() - started
    proc.wait()
    reader.join()
    done = time.monotonic() - started
    summary = json.loads((out / "summary.json").read_text())
    for t, line in events:
        if any(k in line for k in ("recorded", "is ready", "from frame", "failed", "ended")):
            print(f"{t:7.1f} s  {line[:160]}")
    swap = summary.get("adapted_from_frame")
    at = next((t for t, line in events if "from frame" in line), None)
    if swap is not None and at is not None:
        print(f"output fps: {swap / at:.1f} until the hand-over (released engine, recording and adapting beside), "
              f"{(summary['frames'] - swap) / (done - at):.1f} after it (the adapted engine alone)")
    print(f"fed {total} frames ({seconds:g} s) in {fed:.0f} s; finished at {done:.0f} s; output {summary['frames']} "
          f"frames, {summary['fps']} fps overall; adapted from frame {swap}")
    (out / "events.json").write_text(json.dumps({"events": events, "fed_s": fed, "done_s": done,
                                                 "summary": summary}, indent=1))


if __name__ == "__main__":
    main()
