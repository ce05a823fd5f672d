"""Session 67: x264 settings for the output of a live input. For each setting, on one clip's frames: encoding speed
(one thread), bitrate, whole-frame PSNR against the input, and the frames the encoder holds before its first packet
(its latency); then the faces' cost per setting as `eval --codec` measures it (face PSNR against the input, bitrate).

    taskset -c 0 python engines/recipes/session67/encode_speed.py CLIP [FACE_CLIP FRAMES]

(session 67: KatieHill's clip; tests/single_face_640x360.mp4 90 and tests/crowd_1080p.mp4 60 for the faces).
The pipeline's own figures: `taskset -c 0 streamdeblur process CLIP -o o.ts --format mpegts --model naf --preset P
--summary-json s.json` for P in veryfast, superfast, ultrafast (and without taskset). BENCHMARKS.md, "Output for
real time".
"""

from __future__ import annotations

import io
import shutil
import sys
import time
from pathlib import Path

import av
import numpy as np

SETTINGS = [("veryfast", None), ("superfast", None), ("ultrafast", None), ("veryfast", "zerolatency"),
            ("superfast", "zerolatency"), ("ultrafast", "zerolatency")]


def encode(frames: list[np.ndarray], preset: str, tune: str | None, crf: int = 12) -> None:
    h, w = frames[0].shape[:2]
    buf = io.BytesIO()
    out = av.open(buf, "w", format="mpegts")
    stream = out.add_stream("libx264", rate=25)
    stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
    stream.options = {"preset": preset, "crf": str(crf), **({"tune": tune} if tune else {})}
    stream.codec_context.thread_count = 1
    held = None
    started = time.perf_counter()
    for i, image in enumerate(frames):
        packets = stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24"))
        if packets and held is None:
            held = i
        for packet in packets:
            out.mux(packet)
    for packet in stream.encode():
        out.mux(packet)
    out.close()
    seconds = time.perf_counter() - started
    buf.seek(0)
    decoded = [f.to_ndarray(format="rgb24") for f in av.open(buf).decode(video=0)]
    mse = np.mean([np.mean((a.astype(np.float32) - b) ** 2) for a, b in zip(frames, decoded)])
    print(f"{preset:9s} {tune or '-':11s} crf {crf}: {len(frames) / seconds:6.1f} fps, "
          f"{buf.getbuffer().nbytes / len(frames) * 25 * 8 / 1e6:5.2f} Mbit/s at 25 fps, PSNR {10 * np.log10(255 ** 2 / mse):.2f} dB, "
          f"{held} frames held before the first packet", flush=True)


def face_costs(clip: Path, frames: int) -> None:
    """eval --codec's figures with the sink's settings for a file (veryfast) and for a live input (superfast with
    the zerolatency tune)."""
    import streamdeblur.io.sink as sink
    from streamdeblur.eval.codec import codec_cost

    plain = sink.codec_options
    for live in (False, True):
        sink.codec_options = lambda codec, crf, lossless, preset, _: plain(codec, crf, lossless, preset, live)
        out = Path(f"/tmp/encode_speed-{live}-{clip.stem}")
        shutil.rmtree(out, ignore_errors=True)
        for row in codec_cost(clip, [10, 12, 14], out, max_frames=frames, lossless_too=False)["rows"]:
            print(f"{clip.name} {'live' if live else 'file'} {row['setting']}: face {row['face_psnr']:.2f} dB, "
                  f"{row['kbps']:.0f} kbit/s", flush=True)
    sink.codec_options = plain


def main() -> None:
    frames = [f.to_ndarray(format="rgb24") for f in av.open(sys.argv[1]).decode(video=0)]
    for preset, tune in SETTINGS:
        encode(frames, preset, tune)
    if len(sys.argv) > 3:
        face_costs(Path(sys.argv[2]), int(sys.argv[3]))


if __name__ == "__main__":
    main()
