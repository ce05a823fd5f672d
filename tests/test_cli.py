"""The `process` command as a user runs it: pipes, RTSP, Ctrl-C, bad input, the demo."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from streamdeblur.models import get_spec, has_weights, list_models
from streamdeblur.synthetic import synthesize_frames, write_clip
from tests.helpers import decode_frames, one_line, run_cli, video_info, wait_until_writing


def test_pipe_in_and_pipe_out(tmp_path):
    src = write_clip(tmp_path / "in.ts", synthesize_frames(20, 320, 240, blur=False), fps=20)
    proc = run_cli("process", "-", "-o", "-", "--format", "mpegts", "--model", "identity", "-q",
                   input=src.read_bytes())
    assert proc.returncode == 0, proc.stderr.decode()
    out = tmp_path / "out.ts"
    out.write_bytes(proc.stdout)
    assert video_info(out)["frames"] == 20
    assert decode_frames(out)[0].shape == (240, 320, 3)


def test_a_pipe_is_encoded_for_real_time_and_a_file_for_size(tmp_path):
    """Without --preset, an input read as it comes is encoded with x264's superfast preset (about twice as fast as
    veryfast: no lookahead, the simplest motion search), a file with veryfast; --preset overrides both. The summary
    gives a live input's latency."""
    src = write_clip(tmp_path / "in.ts", synthesize_frames(12, 160, 120, blur=False), fps=12)
    settings = {}
    for name, args, stdin in [("pipe", ["-"], src.read_bytes()), ("file", [str(src)], None),
                              ("pipe-veryfast", ["-", "--preset", "veryfast"], src.read_bytes())]:
        out = tmp_path / f"{name}.mp4"
        summary = tmp_path / f"{name}.json"
        proc = run_cli("process", *args, "-o", str(out), "--model", "identity", "-q", "--summary-json", str(summary),
                       input=stdin)
        assert proc.returncode == 0, proc.stderr.decode()
        assert video_info(out)["frames"] == 12
        said = json.loads(summary.read_text())
        assert said["encoder"] == "libx264 crf=12 preset=" + ("superfast" if name == "pipe" else "veryfast")
        latency = said["latency_ms"]  # a live input's frames' delay through the pipeline; a file has none to say
        assert latency is None if name == "file" else 0 < latency["p50"] <= latency["p90"] <= latency["p99"] <= (
            latency["max"] + 1)
        head = out.read_bytes()
        settings[name] = head[head.index(b"x264 - core"):][:1200]  # the settings x264 writes into the stream
    assert b" subme=1 " in settings["pipe"] and b" mbtree=0 " in settings["pipe"]
    for name in ("file", "pipe-veryfast"):
        assert b" subme=2 " in settings[name] and b" mbtree=1 " in settings[name] and b" rc_lookahead=10 " in settings[name]


@pytest.mark.skipif("libsvtav1" not in av.codecs_available, reason="PyAV built without SVT-AV1")
def test_av1_output_is_quiet(tmp_path):
    src = write_clip(tmp_path / "in.ts", synthesize_frames(6, 160, 120, blur=False), fps=12)
    out = tmp_path / "av1.mkv"
    proc = run_cli("process", str(src), "-o", str(out), "--codec", "libsvtav1", "--model", "identity", "-q")
    assert proc.returncode == 0 and proc.stderr.decode() == "", proc.stderr.decode()  # no SVT-AV1 banner
    with av.open(str(out)) as c:
        assert c.streams.video[0].codec_context.name in ("libdav1d", "av1") and len(list(c.decode(video=0))) == 6


@pytest.mark.parametrize("signum,code,batch", [(signal.SIGINT, 130, False), (signal.SIGTERM, 143, False),
                                               (signal.SIGTERM, 143, True)])
def test_sigint_or_sigterm_leaves_a_playable_file_and_exits_as_the_signal_says(tmp_path, signum, code, batch):
    """Ctrl-C exits 130, SIGTERM (a scheduler, `timeout`, `kill`) 143 as a process it killed would, also for a
    batch (both exited 130); each keeps the frames written so far."""
    frames = synthesize_frames(24, 480, 360, blur=False)
    (tmp_path / "clips").mkdir()
    clip = write_clip(tmp_path / "clips" / "long.mp4", frames * 25, fps=24)  # 600 frames
    out = tmp_path / "out" / "long.mp4"
    out.parent.mkdir()
    given = [str(clip.parent), "-o", str(out.parent)] if batch else [str(clip), "-o", str(out)]
    proc = subprocess.Popen([sys.executable, "-m", "streamdeblur", "process", *given, "--model", "identity", "-q"],
                            stderr=subprocess.PIPE)
    wait_until_writing(out, proc)
    assert proc.poll() is None, proc.stderr.read().decode()
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code and "Traceback" not in err.decode(), err.decode()
    info = video_info(out)
    assert 0 < info["frames"] < 600
    assert len(decode_frames(out)) == info["frames"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _publish(url: str, frames: list[np.ndarray], fps: int) -> None:
    with av.open(url, "w", format="rtsp", options={"rtsp_transport": "tcp"}) as out:
        vs = out.add_stream("libx264", rate=fps)
        vs.width, vs.height, vs.pix_fmt = frames[0].shape[1], frames[0].shape[0], "yuv420p"
        vs.options = {"preset": "ultrafast", "tune": "zerolatency"}
        for i, img in enumerate(frames):
            vf = av.VideoFrame.from_ndarray(img, format="bgr24")
            vf.pts, vf.time_base = i, Fraction(1, fps)
            for p in vs.encode(vf):
                out.mux(p)
            time.sleep(1 / fps)
        for p in vs.encode():
            out.mux(p)


def test_rtsp_stream_is_processed_to_a_playable_file(tmp_path):
    url = f"rtsp://127.0.0.1:{_free_port()}/live"
    out = tmp_path / "rtsp.mp4"
    proc = subprocess.Popen([sys.executable, "-m", "streamdeblur", "process", url, "--listen", "-o", str(out),
                             "--model", "identity", "-q"], stderr=subprocess.PIPE)
    frames = synthesize_frames(24, 320, 240, blur=False) * 2
    deadline = time.time() + 30
    while True:  # the listener needs a moment to open its socket
        try:
            _publish(url, frames, 24)
            break
        except (av.error.ConnectionRefusedError, OSError):
            if time.time() > deadline:
                proc.kill()
                raise
            time.sleep(0.5)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err.decode()
    info = video_info(out)
    assert info["frames"] >= 40  # the whole stream (a few frames may be lost before the first keyframe)


@pytest.mark.parametrize("args,needle", [
    (["process", "/nonexistent/clip.mp4", "-o", "x.mp4", "--model", "identity"], "nonexistent"),
    (["process", "{text}", "-o", "{tmp}/o.mp4", "--model", "identity"], "video"),
    (["process", "{clip}", "-o", "{tmp}/o.mp4", "--model", "no-such-model"], "no-such-model"),
    (["process", "{clip}", "-o", "{tmp}/o.mp4", "--backend", "quantum"], "quantum"),
    (["process", "{clip}", "-o", "{tmp}/o.mp4", "--detector", "eyeball"], "eyeball"),
    (["process", "{clip}", "-o", "/proc/forbidden/o.mp4", "--model", "identity"], "/proc/forbidden"),
    (["process", "rtsp://127.0.0.1:9/none", "-o", "{tmp}/o.mp4", "--model", "identity"], "rtsp://127.0.0.1:9"),
    # options checked before any work: none of these may run the video first and fail at its end
    (["process", "{clip}", "-o", "{tmp}/o.mp4", "--model", "identity", "--report", "{text}"], "--report"),
    (["process", "{clip}", "-o", "{tmp}/o.mp4", "--model", "identity", "--report", "{text}/plots"], "is a file"),
    (["process", "{clip}", "-o", "{tmp}/o.mp4", "--model", "identity", "--gate", "nan"], "--gate"),
    (["process", "{clip}", "-o", "{tmp}/o.mp4", "--model", "identity", "--gate", "-1"], "--gate"),
    (["process", "{clip}", "-o", "{tmp}/o.mp4", "--model", "identity", "--min-face-size", "-5"], "--min-face-size"),
    (["process", "{clip}", "-o", "{tmp}/o.mp4", "--model", "identity", "--num-shards", "2"], "--num-shards"),
    (["process", "{clip}", "-o", "{text}/o.mp4", "--model", "identity"], "is a file, not a folder"),
    (["process", "{clip}", "-o", "{tmp}/o.webm", "--model", "identity"], "--codec"),
    # options that contradict each other, or nothing to stop at: one was silently dropped before
    (["process", "{clip}", "-o", "{tmp}/o.mp4", "--model", "identity", "--lossless", "--crf", "20"], "exclude"),
    (["process", "{clip}", "-o", "{tmp}/o.mp4", "--model", "identity", "--gate", "2", "--no-gate"], "exclude"),
    (["process", "{clip}", "-o", "{tmp}/o.mp4", "--model", "identity", "--adapt-steps", "10"], "goes with --adapt"),
    (["process", "{clip}", "-o", "{tmp}/o.mp4", "--model", "identity", "--duration", "nan"], "--duration"),
    (["process", "{clip}", "-o", "{tmp}/o.mp4", "--weights", "{tmp}/fast.onnx"], "an ONNX export"),
    (["make-pairs", "{clip}", "-o", "{tmp}/pairs", "--method", "motion", "--crf", "99,120"], "crf must be"),
    (["make-pairs", "{clip}", "-o", "{tmp}/pairs", "--method", "motion", "--shutter", "2,3"], "shutter must be"),
    (["make-pairs", "{clip}", "-o", "{tmp}/pairs", "--val-list", "{binary}"], "not a text file"),
    (["demo", "-o", "{text}/demo.mp4"], "is a file"),
    (["demo", "-o", "{tmp}"], "is a folder"),
])
def test_bad_input_is_one_line_and_exit_2(face_clip, tmp_path, args, needle):
    text = tmp_path / "notes.txt"
    text.write_text("not a video\n" * 100)
    binary = tmp_path / "binary.txt"
    binary.write_bytes(b"\xff\xfe\x00 not text")
    (tmp_path / "fast.onnx").write_bytes(b"\x08\x07 an onnx model's bytes")
    subst = {"{text}": str(text), "{tmp}": str(tmp_path), "{clip}": str(face_clip), "{binary}": str(binary)}

    def fill(arg: str) -> str:
        for key, value in subst.items():
            arg = arg.replace(key, value)
        return arg

    line = one_line(run_cli(*map(fill, args), timeout=60))
    assert needle.lower() in line.lower()


def _listening(port: int) -> bool:
    """Whether a socket listens on the TCP port (Linux's /proc/net/tcp: state 0A), without connecting to it (an
    RTSP listener takes one connection)."""
    rows = Path("/proc/net/tcp").read_text().splitlines()[1:]
    return any(r.split()[1].endswith(f":{port:04X}") and r.split()[3] == "0A" for r in rows)


def test_ctrl_c_while_waiting_for_a_publisher_stops_at_once(tmp_path):
    """FFmpeg's listener only returns at its own timeout (20 s): Ctrl-C must not wait for it."""
    out = tmp_path / "o.mp4"
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "streamdeblur", "process", f"rtsp://127.0.0.1:{port}/live",
                             "--listen", "-o", str(out), "--model", "identity"], stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60  # imports (slow on a busy machine), then the listener waits
    while not _listening(port) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(0.5)
    assert proc.poll() is None and _listening(port), proc.stderr.read().decode() if proc.poll() is not None else ""
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert time.monotonic() - sent < 15  # the listener's own timeout is 20 s; a loaded CI machine took 10 s to exit
    assert proc.returncode == 130, err.decode()
    assert err.decode().strip().splitlines()[-1] == "streamdeblur: interrupted"
    assert not out.exists() and not list(tmp_path.glob(".o.partial-*"))


def test_model_without_weights_says_how_to_get_them(face_clip, tmp_path):
    missing = [m for m in list_models() if not has_weights(m)]
    args = ["--model", missing[0]] if missing else ["--weights", str(tmp_path / "absent.safetensors")]
    line = one_line(run_cli("process", str(face_clip), "-o", str(tmp_path / "o.mp4"), *args))
    assert "weights" in line and "train" in line
    assert not (tmp_path / "o.mp4").exists()


def test_demo_runs_or_explains_missing_weights(tmp_path):
    """The README's first command: `streamdeblur demo -o demo_deblurred.mp4`. Its clip is one photo moved, so
    `process`'s pointer to --adapt (for a person's video) is not printed."""
    out = tmp_path / "demo_deblurred.mp4"
    proc = run_cli("demo", "-o", str(out))
    if get_spec("fast").weights_path.exists():
        assert proc.returncode == 0, proc.stderr.decode()
        assert b"--adapt" not in proc.stderr
        assert video_info(out)["frames"] == 72
        assert decode_frames(out, limit=1)[0].shape == (360, 960, 3)
    else:
        assert "weights" in one_line(proc)


def test_models_lists_the_registry():
    proc = run_cli("models")
    assert proc.returncode == 0
    out = proc.stdout.decode()
    assert all(name in out for name in list_models())
    from streamdeblur import DEFAULT_MODEL

    (default_line,) = [line for line in out.splitlines() if line.endswith("[default]")]
    assert default_line.split()[0] == DEFAULT_MODEL


def test_export_writes_a_checked_onnx(tmp_path):
    import onnxruntime

    from streamdeblur.models import load_model, save_weights

    weights = save_weights(load_model("fast", allow_random=True), tmp_path / "w.safetensors")
    out = tmp_path / "fast.onnx"
    proc = run_cli("export", "fast", "-o", str(out), "--weights", str(weights))
    assert proc.returncode == 0, proc.stderr.decode()
    session = onnxruntime.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).random((3, 3, 128, 128), dtype=np.float32)
    (y,) = session.run(None, {session.get_inputs()[0].name: x})
    assert y.shape == x.shape and 0 <= y.min() and y.max() <= 1


def test_bench_prints_stage_figures():
    proc = run_cli("bench", "--resolution", "480p", "--faces", "one", "--frames", "8", "--only", "decode",
                   "--only", "detect", "--detect-size", "320")
    assert proc.returncode == 0, proc.stderr.decode()
    rows = [line for line in proc.stdout.decode().splitlines() if line.startswith("| 480p")]
    assert len(rows) == 2 and "failed" not in "".join(rows)


def test_bench_live_feeds_each_clip_as_a_live_input_and_prints_its_latency(tmp_path):
    """`bench --live`: the clip played into `process -` at its frame rate; the live summary's latency is a column."""
    import json

    proc = run_cli("bench", "--resolution", "480p", "--faces", "one", "--frames", "8", "--only", "decode",
                   "--only", "detect", "--live", "--json", str(tmp_path / "bench.json"))
    assert proc.returncode == 0, proc.stderr.decode()
    lines = proc.stdout.decode().splitlines()
    assert "latency p50 / p90 / largest, ms" in lines[0]
    rows = json.loads((tmp_path / "bench.json").read_text())
    assert [r["case"] for r in rows] == ["decode+encode", "+detect/track"]
    for row in rows:
        assert row["frames"] == 8 and row["input"] == "-" and set(row["latency_ms"]) == {"p50", "p90", "p99", "max"}
    assert rows[1]["faces"] == 8
    assert run_cli("bench", "--live", "--train").returncode != 0  # only the stages' bench is fed live


@pytest.mark.parametrize("option,value,message", [("--steps", "0", "--steps must be at least 1"),
                                                  ("--crop", "0", "--crop must be at least 16")])
def test_bench_train_refuses_nothing_to_time_in_one_line(option, value, message):
    proc = run_cli("bench", "--train", "--model", "fast", option, value)
    err = proc.stderr.decode()
    assert proc.returncode == 2 and message in err and "Traceback" not in err, err


@pytest.mark.skipif(not get_spec("fast").weights_path.exists(), reason="needs the released fast engine")
def test_readme_side_by_side_command_with_the_default_engine(face_clip, tmp_path):
    """`streamdeblur process in.mp4 -o cmp.mp4 --side-by-side --max-faces 2 --crf 16 --summary-json run.json`"""
    import json

    out, summary = tmp_path / "cmp.mp4", tmp_path / "run.json"
    proc = run_cli("process", str(face_clip), "-o", str(out), "--side-by-side", "--max-faces", "2", "--crf", "16",
                   "--summary-json", str(summary), "-q")
    assert proc.returncode == 0, proc.stderr.decode()
    s = json.loads(summary.read_text())
    assert s["frames"] == 48 and s["faces"] >= 45 and s["engine"].startswith("onnxruntime")
    assert video_info(out)["frames"] == 48 and decode_frames(out, limit=1)[0].shape == (360, 960, 3)


def test_cli_defaults_are_the_library_defaults():
    """Options are declared once: process reads ProcessOptions; bench and make-pairs agree with the library."""
    import inspect
    from dataclasses import fields

    from streamdeblur.bench import DETECT_EVERY
    from streamdeblur.cli.process import process
    from streamdeblur.data.exposure import MotionConfig
    from streamdeblur.data.video_pairs import PairOptions
    from streamdeblur.pipeline import ProcessOptions

    defaults = {f.name: f.default for f in fields(ProcessOptions)}
    params = inspect.signature(process).parameters
    for name, param in params.items():
        if name in defaults:
            assert param.default.default == defaults[name], name
    assert DETECT_EVERY == ProcessOptions().detect_every
    from streamdeblur.cli.data import make_pairs_command

    make = {n: p.default.default for n, p in inspect.signature(make_pairs_command).parameters.items()
            if hasattr(p.default, "default")}
    pairs, motion = PairOptions(), MotionConfig()
    assert (make["size"], make["margin"], make["stride"], make["noise"], make["seed"]) == \
        (pairs.size, pairs.margin, pairs.stride, pairs.noise, pairs.seed)
    assert make["speed"] == "{:g},{:g}".format(*motion.speed) and make["shutter"] == "{:g},{:g}".format(*motion.shutter)
    assert make["subframes"] == "{},{}".format(*motion.subframes) and make["crf"] == "{:g},{:g}".format(*motion.crf)
    assert make["frames"] == motion.frames and make["shake"] == motion.shake and make["crf_share"] == motion.crf_share
    assert make["targets"] == motion.targets


def _reads_stdin(pid: int) -> bool:
    """Whether a thread of the process is blocked reading its stdin (FFmpeg's pipe:0 reads a duplicate of fd 0):
    in read(), syscall 0 on x86-64 and 63 on arm64, on a descriptor that is the same pipe as fd 0."""
    import os

    try:
        stdin = os.readlink(f"/proc/{pid}/fd/0")
    except OSError:
        return False
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            call = (task / "syscall").read_text().split()
            if len(call) > 1 and call[0] in ("0", "63") and os.readlink(f"/proc/{pid}/fd/{int(call[1], 16)}") == stdin:
                return True
        except (OSError, ValueError):
            continue
    return False


@pytest.mark.parametrize("signum,code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_stops_a_pipe_that_never_sends_anything(tmp_path, signum, code):
    """`sleep 60 | streamdeblur process - ...`: FFmpeg's open waits for data; Ctrl-C and SIGTERM stopped nothing
    there (only kill -9 did). Now either ends it at once, nothing written."""
    out = tmp_path / "o.ts"
    proc = subprocess.Popen([sys.executable, "-m", "streamdeblur", "process", "-", "-o", str(out), "--model",
                             "identity"], stdin=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120  # until a thread waits in read(0) (syscall 0 on x86-64, 63 on arm64)
    while time.monotonic() < deadline and proc.poll() is None and not _reads_stdin(proc.pid):
        time.sleep(0.2)
    assert _reads_stdin(proc.pid), "the command never came to read its stdin"
    proc.send_signal(signum)
    try:
        _, err = proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert proc.returncode == code and "Traceback" not in err.decode(), err.decode()
    assert not out.exists() and not list(tmp_path.iterdir())


def test_stdin_from_a_terminal_is_refused_in_one_line(tmp_path):
    import os
    import pty

    leader, follower = pty.openpty()
    try:
        proc = subprocess.run([sys.executable, "-m", "streamdeblur", "process", "-", "-o", str(tmp_path / "o.ts"),
                               "--model", "identity"], stdin=follower, capture_output=True, timeout=120)
    finally:
        os.close(leader)
        os.close(follower)
    assert proc.returncode == 2 and "stdin is a terminal" in one_line(proc)
