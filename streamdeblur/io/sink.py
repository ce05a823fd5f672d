"""Video output: VideoSink encodes BGR frames with PyAV (libx264 by default, CRF 18, yuv420p),
keeps each frame's timestamp (VFR safe) and remuxes the input's audio packets unchanged.
Writes a file or a pipe ('-' = stdout, with an explicit container format such as mpegts/matroska).

Odd sizes: yuv420p cannot hold an odd width or height, so such frames are encoded in yuv444p
(libx264 High 4:4:4), which keeps the exact size; a few players cannot play 4:4:4 H.264.

Nothing half-written: a file is written under a hidden temporary name in the target folder
(`.<stem>.partial-<pid><ext>`) and renamed over the target when it is finalised, so a kill at any
moment leaves the previous file (or none) under the target name, never a broken one; leftovers of
killed runs are removed by the next run to the same target. Devices and pipes are written in place.
Write faults (disk full, a device gone) are OutputError (one line, exit 1); a closed stdout is
StdoutClosed (the CLI ends quietly).
"""

from __future__ import annotations

import errno
import logging
import os
import sys
from fractions import Fraction
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from av.video.reformatter import Interpolation

from streamdeblur.errors import OutputError, StdoutClosed, UserError
from streamdeblur.io.files import partial_name

log = logging.getLogger("streamdeblur")

STDOUT_FORMAT = "mpegts"  # container for '-' when no format is given
CRF_CODECS = ("libx264", "libx265", "libx264rgb")
DEFAULT_PRESET = "veryfast"
# An input read as it comes (a camera, a stream, a pipe) is encoded with a faster preset unless one is given: x264's
# superfast encoded KatieHill's 512x512 frames twice as fast as veryfast (169 against 86 fps on one thread), held 4
# frames before its first packet instead of 11, and its faces came out better at the same CRF (12: 45.0 against
# 43.7 dB on tests/single_face_640x360.mp4) for 1.15-2.4x the bitrate. `process - --adapt` on session 66's 25-fps
# pipe ran at 16.6 fps overall against 14.2-14.4 and handed over sooner; the zerolatency tune (17.6 fps) cost another
# 1.5x the bitrate (BENCHMARKS.md, "Output for real time").
LIVE_PRESET = "superfast"
PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow")  # x264/x265
# BGR -> YUV with accurate rounding and area chroma averaging: the inverse of the source's
# accurate YUV -> BGR, so re-encoding decoded frames adds no colour drift
SWS_ACCURATE = Interpolation.AREA | Interpolation.ACCURATE_RND | Interpolation.FULL_CHR_H_INP


def check_target(target: str) -> None:
    """UserError now, before any work, when the output cannot be written (missing folder, a directory,
    no permission, no such V4L2 device)."""
    if is_stdout(target):
        return
    if is_v4l2_device(target):
        check_v4l2_device(target)
    else:
        VideoSink._check_path(target)


def is_v4l2_device(target: str) -> bool:
    """True for a V4L2 device path (/dev/videoN): written as a virtual camera."""
    return target.startswith("/dev/video")


def check_v4l2_device(target: str) -> None:
    """UserError unless target is a V4L2 output device we can write (a v4l2loopback camera)."""
    import stat

    if not os.path.exists(target):
        raise UserError(f"no V4L2 device {target}: create a virtual camera with the v4l2loopback kernel module "
                        "(e.g. `sudo modprobe v4l2loopback video_nr=10`), then use -o /dev/video10")
    if not stat.S_ISCHR(os.stat(target).st_mode):
        raise UserError(f"{target} is not a V4L2 device")
    if not os.access(target, os.W_OK):
        raise UserError(f"cannot write {target}: permission denied (join the 'video' group)")


def is_stdout(target: str) -> bool:
    """True for the targets that mean standard output: '-', 'pipe:' and 'pipe:1'."""
    return target in ("-", "pipe:", "pipe:1")


# Encoders that refuse limited-range 4:2:0 YUV: their own format (even and odd sizes)
NATIVE_PIXEL_FORMATS = {"libx264rgb": ("bgr24", "bgr24"), "mjpeg": ("yuvj420p", "yuvj444p")}


def pixel_format(codec: str, width: int, height: int) -> str:
    """The encoder pixel format: yuv420p, or yuv444p for odd sizes with codecs that support it (the
    NATIVE_PIXEL_FORMATS of encoders that take no yuv420p)."""
    odd = bool(width % 2 or height % 2)
    if codec in NATIVE_PIXEL_FORMATS:
        return NATIVE_PIXEL_FORMATS[codec][odd]
    if not odd:
        return "yuv420p"
    if codec in CRF_CODECS:
        return "yuv444p"
    raise UserError(
        f"codec {codec} needs an even frame size, got {width}x{height}; use codec libx264 or libx265 for odd sizes"
    )


def codec_options(codec: str, crf: int = 18, lossless: bool = False, preset: str | None = None,
                  live: bool = False) -> dict[str, str]:
    """Encoder options for a quality setting: CRF (or lossless) for the QUALITY_CODECS, and a preset for x264/x265
    (without one, DEFAULT_PRESET, or LIVE_PRESET for a `live` input) or VP9's speed; a warning for other encoders
    that are not lossless by nature, whose own defaults then decide."""
    chosen = preset or (LIVE_PRESET if live else DEFAULT_PRESET)
    if codec in ("libx264", "libx264rgb"):
        return {"preset": chosen, **({"qp": "0"} if lossless else {"crf": str(crf)})}
    if codec == "libx265":
        return {"preset": chosen, "x265-params": "log-level=error" + (":lossless=1" if lossless else ""),
                **({} if lossless else {"crf": str(crf)})}
    if codec in ("mpeg4", "mpeg2video", "mpeg1video", "mjpeg"):
        # a fixed quantiser, 1 (best) to 31, from CRF 0..51 (qmin = qmax: PyAV frames carry no
        # per-frame quality, so the ffmpeg CLI's -q:v / global_quality route does not apply)
        q = 1 if lossless else max(1, min(31, round(1 + crf * 30 / 51)))
        return {"qmin": str(q), "qmax": str(q)}
    if codec == "libvpx-vp9":  # constant quality (bit rate 0); VP9's CRF scale is 0-63, used as given
        speed = {"deadline": "realtime", "cpu-used": "8"} if live else {"deadline": "good", "cpu-used": "4"}
        return {**speed, **({"lossless": "1"} if lossless else {"crf": str(crf), "b": "0"})}
    if codec == "libsvtav1":
        if lossless:
            raise UserError("libsvtav1 has no lossless mode here: use --codec libx264 --lossless, or ffv1 in .mkv")
        return {"crf": str(max(1, crf))}  # SVT-AV1's CRF is 1-63
    if codec not in LOSSLESS_CODECS:
        log.warning("%s takes no --crf or --lossless here: its own defaults set the quality (%s do)", codec,
                    ", ".join(QUALITY_CODECS))
    return {}


QUALITY_CODECS = ("libx264", "libx265", "libvpx-vp9", "libsvtav1", "mpeg4", "mpeg2video", "mjpeg")
LOSSLESS_CODECS = {"ffv1", "rawvideo", "huffyuv", "ffvhuff", "utvideo", "png", "qtrle"}  # lossless as they are


# errors of the output itself (a full disk, a closed pipe, a device), not of its settings
_WRITE_FAULTS = {errno.ENOSPC, errno.EPIPE, errno.EIO, errno.EROFS, errno.EDQUOT, errno.EFBIG, errno.EACCES}


def encoder_time_base(codec: str, time_base: Fraction, fps: Fraction | None, container: str = "") -> Fraction:
    """The time base the encoder is opened with: the input's, except where the encoder or container refuses it.
    MPEG-1/2 video stores a frame rate (1/fps, the input's frame times rounded to it), and so does AVI (a frame per
    tick: in the input's 1/12800 its header said 600 fps, and players stepped through empty ticks); MPEG-4 part 2
    takes no denominator over 65535 (MPEG-TS and RTSP inputs count in 1/90000: 1/60000, which holds the common frame
    rates' times exactly)."""
    if codec in ("mpeg1video", "mpeg2video") or container == "avi":
        return 1 / (fps or Fraction(25))
    if codec == "mpeg4" and time_base.denominator > 65535:
        return Fraction(1, 60000)
    return time_base


# Audio codecs that players read in each container (FFmpeg's muxers accept more, e.g. PCM in MP4).
_SAFE_AUDIO = {
    "mp4": {"aac", "mp3", "ac3", "eac3", "alac", "opus", "flac"},
    "ipod": {"aac", "alac", "ac3", "eac3"},
    "webm": {"opus", "vorbis"},
    "mpegts": {"aac", "mp3", "mp2", "ac3", "eac3", "opus"},
    "flv": {"aac", "mp3"},
}
_TRANSCODE_TO = {"webm": "libopus"}


def faithful_pixel_format(codec: str, source: str, width: int, height: int) -> str:
    """The input's pixel format when the encoder can write it (10-bit, 4:2:2, 4:4:4, grey), its limited-range
    twin for a full-range 'yuvj' format, else the default; what cannot be kept is said in one line."""
    import av

    if codec in NATIVE_PIXEL_FORMATS:
        return pixel_format(codec, width, height)
    wanted = source.replace("yuvj", "yuv")
    try:
        supported = {f.name for f in (av.codec.Codec(codec, "w").video_formats or [])}
    except (av.FFmpegError, ValueError, KeyError):
        supported = set()
    odd = width % 2 or height % 2
    if wanted in supported and not (odd and ("420" in wanted or "422" in wanted)):
        return wanted
    fallback = pixel_format(codec, width, height)
    if wanted != fallback:
        log.warning("the input's pixel format %s cannot be written by %s%s; writing %s", source, codec,
                    " at an odd size" if odd else "", fallback)
    return fallback


def _tag_video(ctx: Any, like: Any) -> None:
    """Copy the sample aspect ratio and colour tags of the input onto the encoder."""
    if like.sar is not None and like.sar != 1:
        ctx.sample_aspect_ratio = like.sar
    if like.pix_fmt and like.pix_fmt.startswith("yuvj"):
        ctx.color_range = 2  # full ('pc') range, as the yuvj format said
    elif like.color_range:
        ctx.color_range = like.color_range
    for name in ("color_primaries", "color_trc", "colorspace"):
        value = getattr(like, name)
        if value not in (None, 2):
            try:
                setattr(ctx, name, value)
            except (AttributeError, ValueError, TypeError):
                pass


def _container_holds(container: str, template: Any) -> bool:
    """Whether a container format can store a copy of the stream (tried on an in-memory container)."""
    import io

    import av

    try:
        probe = av.open(io.BytesIO(), "w", format=container)
        try:
            probe.add_stream_from_template(template)
            probe.start_encoding()
            return True
        finally:
            try:
                probe.close()
            except Exception:  # noqa: BLE001 - a probe that never started cannot close cleanly
                pass
    except Exception:  # noqa: BLE001 - any refusal means: not in this container
        return False


def audio_target(container: str, codec: str) -> str | None:
    """None when `codec` audio can be copied into `container`, else the encoder to transcode it with."""
    safe = _SAFE_AUDIO.get(container)
    if safe is None or codec in safe:
        return None
    return _TRANSCODE_TO.get(container, "aac")


class AudioTranscoder:
    """Decodes one input audio stream and encodes it again (e.g. PCM -> AAC for MP4), keeping its timing."""

    LAYOUTS = {1: "mono", 2: "stereo", 3: "2.1", 4: "quad", 5: "5.0", 6: "5.1", 7: "6.1", 8: "7.1"}

    def __init__(self, container: Any, template: Any, codec: str) -> None:
        import av

        channels = template.codec_context.channels if hasattr(template.codec_context, "channels") else 2
        layout = self.LAYOUTS.get(getattr(template.layout, "nb_channels", channels), "stereo")
        rate = template.rate or 48000
        if codec == "libopus" and rate not in (8000, 12000, 16000, 24000, 48000):
            rate = 48000
        self.stream = container.add_stream(codec, rate=rate, layout=layout)
        fmt = self.stream.format.name if self.stream.format is not None else "fltp"
        self.frame_size = 960 if codec == "libopus" else 1024
        self.resampler = av.AudioResampler(format=fmt, layout=layout, rate=rate, frame_size=self.frame_size)
        self.next_pts: int | None = None

    def encode(self, packet: Any) -> list[Any]:
        """Packets of the output stream for one input packet (None: flush everything)."""
        frames = packet.decode() if packet is not None else [None]
        out = []
        for frame in frames:
            if frame is not None:
                if self.next_pts is None:  # the stream's start time, in output samples (keeps A/V sync)
                    start = frame.pts * frame.time_base if frame.pts is not None and frame.time_base else 0
                    self.next_pts = int(round(start * self.stream.rate))
                frame.pts = None  # the resampler counts samples; timestamps are set below
            for resampled in self.resampler.resample(frame):
                resampled.pts = self.next_pts or 0
                resampled.time_base = Fraction(1, self.stream.rate)
                self.next_pts = (self.next_pts or 0) + resampled.samples
                out += self.stream.encode(resampled)
        if packet is None:
            out += self.stream.encode(None)
        return out


def partial_files(target: str | Path) -> list[Path]:
    """The partial outputs (`.<stem>.partial-<pid><ext>`) beside a file target, of this run or earlier ones."""
    path = Path(target)
    return sorted(path.parent.glob(partial_name(path, "*")))


def partial_path(target: str) -> str:
    """Where a file target is written until it is complete: a hidden name beside it with the same extension
    (the container is chosen by extension); devices and pipes are written in place. Leftovers of earlier
    runs to the same target whose process is gone are removed."""
    path = Path(target)
    if path.exists() and not path.is_file():
        return target
    head, tail = partial_name(path, "*").split("*")
    for old in partial_files(target):
        pid = old.name[len(head):len(old.name) - len(tail)]
        if pid.isdigit() and not _alive(int(pid)):
            old.unlink(missing_ok=True)
    return str(path.with_name(partial_name(path, str(os.getpid()))))


def _alive(pid: int) -> bool:
    """Whether a process still runs (a zombie, killed but not yet reaped by its parent, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc (macOS): trust the signal
    return stat.rpartition(")")[2].split()[:1] != ["Z"]


def _is_broken_pipe(exc: BaseException) -> bool:
    """A BrokenPipeError/EPIPE, directly or inside a PyAV callback error."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, BrokenPipeError) or getattr(seen, "errno", None) == errno.EPIPE:
            return True
        if "Broken pipe" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


class VideoSink:
    """Encode frames to a file or stdout. Use as a context manager; close() always finalises the file."""

    def __init__(
        self,
        target: str,
        width: int,
        height: int,
        time_base: Fraction,
        fps: Fraction | None = None,
        audio_streams: Sequence[Any] = (),
        codec: str = "libx264",
        crf: int = 18,
        lossless: bool = False,
        format: str | None = None,
        options: dict[str, str] | None = None,
        preset: str | None = None,
        pix_fmt: str | None = None,
        like: Any = None,
        live: bool = False,
    ) -> None:
        """audio_streams: the input's audio, subtitle and data streams to remux (packets via write_audio);
        live: the frames come from an input read as it comes, encoded with LIVE_PRESET unless a preset is given
        (codec_options);
        like: the input's io.source.VideoFormat, to keep its bit depth, chroma layout, sample aspect ratio
        and colour tags where the encoder can (what it cannot keep is said in one line)."""
        import av

        self.target = str(target)
        self.path = self.target  # where the container writes (a temporary name for files)
        self.width, self.height = int(width), int(height)
        self.time_base = Fraction(time_base)
        self.fps = Fraction(fps) if fps else None
        self.frames = 0
        self._closed = False
        self._last_pts: int | None = None
        self._muxed = False  # any packet: a sink closed with none leaves no file (its header is written at once)
        self._av_error = av.FFmpegError
        if not 0 <= crf <= 51:
            raise UserError(f"crf must be between 0 and 51, got {crf}")
        pix = pix_fmt or (faithful_pixel_format(codec, like.pix_fmt, self.width, self.height)
                          if like is not None and like.pix_fmt else pixel_format(codec, self.width, self.height))
        self._stdout = is_stdout(self.target)
        if is_v4l2_device(self.target):  # a virtual camera (v4l2loopback) for video calls: raw frames
            check_v4l2_device(self.target)
            format, codec, pix = "v4l2", "rawvideo", "yuv420p"
        quality = codec_options(codec, crf, lossless, preset, live)  # UserError now, before any file is opened
        if self._stdout:
            if sys.stdout.isatty():
                raise UserError("refusing to write video to a terminal: redirect stdout to a file or a pipe")
            format = format or STDOUT_FORMAT
        elif format != "v4l2":
            self._check_path(self.target)
            self.path = partial_path(self.target)
        try:
            file: Any = sys.stdout.buffer if self._stdout else self.path
            self.container = av.open(file, "w", format=format)
        except (av.FFmpegError, OSError) as exc:
            self._drop_partial()
            raise UserError(f"cannot write {self.target}: {getattr(exc, 'strerror', None) or exc}") from None
        except ValueError as exc:
            self._drop_partial()
            raise UserError(f"cannot write {self.target}: {exc} (choose a known extension or format)") from None
        if codec == "libsvtav1":  # SVT-AV1 writes a 20-line banner to stderr at its default level: errors only
            os.environ.setdefault("SVT_LOG", "1")
        try:
            self.video = self.container.add_stream(codec, rate=self.fps or Fraction(25))
        except (av.FFmpegError, ValueError, KeyError) as exc:
            self.abort()
            if "does not support" in str(exc):  # a known encoder the container cannot hold
                raise UserError(f"{self.target} cannot hold {codec} video ({exc}); write .mp4, .mkv or .ts, "
                                f"or give a --codec its container holds (e.g. libvpx-vp9 for .webm)") from None
            raise UserError(f"unknown or unavailable codec {codec!r} ({exc})") from None
        self.video.width, self.video.height, self.video.pix_fmt = self.width, self.height, pix
        if like is not None:
            _tag_video(self.video.codec_context, like)
        self.codec_time_base = encoder_time_base(codec, self.time_base, self.fps, self.container.format.name)
        self.video.time_base = self.codec_time_base
        self.video.codec_context.time_base = self.codec_time_base
        self.options = {**quality, **(options or {})}  # (FFmpeg takes them)
        self.video.options = dict(self.options)
        self._audio: dict[int, Any] = {}
        self._audio_dts: dict[int, Fraction] = {}  # last muxed dts per input audio stream, seconds
        self._transcode: dict[int, AudioTranscoder] = {}
        container_name = self.container.format.name
        for template in audio_streams:
            name = template.codec_context.codec.canonical_name if template.codec_context else template.type
            if template.type != "audio":  # subtitles and data: copied when this container can hold them
                if _container_holds(container_name, template):
                    self._audio[template.index] = self.container.add_stream_from_template(template)
                else:
                    log.warning("%s stream %d (%s) cannot be kept in %s; dropped", template.type, template.index,
                                name, container_name)
                continue
            target = audio_target(container_name, name)
            try:
                if target is None:
                    self._audio[template.index] = self.container.add_stream_from_template(template)
                else:
                    self._transcode[template.index] = AudioTranscoder(self.container, template, target)
                    log.warning("audio stream %d: %s cannot be stored in %s where players read it; transcoded to %s",
                                template.index, name, container_name, target)
            except (av.FFmpegError, ValueError) as exc:
                log.warning("audio stream %d not copied (%s)", template.index, exc)
        self._start(codec)

    @staticmethod
    def _check_path(target: str) -> None:
        """Raise UserError when the output file cannot be created."""
        path = Path(target)
        parent = path.parent if str(path.parent) else Path(".")
        if path.is_dir():
            raise UserError(f"output is a directory, give a file name: {target}")
        if parent.exists() and not parent.is_dir():
            raise UserError(f"cannot write {target}: {parent} is a file, not a folder")
        if not parent.is_dir():
            raise UserError(f"output folder does not exist: {parent}")
        existed = path.exists()
        try:
            with open(path, "ab"):
                pass
        except OSError as exc:
            raise UserError(f"cannot write {target}: {exc.strerror or exc}") from None
        if not existed:
            path.unlink()

    @property
    def settings(self) -> str:
        """The video encoder and the options it was given, e.g. "libx264 crf=12 preset=veryfast"."""
        options = sorted(f"{k}={v}" for k, v in self.options.items() if k != "x265-params")
        return " ".join([self.video.codec_context.name, *options])

    def _next_pts(self, pts: int | None) -> int:
        """The pts to encode, in the encoder's time base: as given (in time_base units), synthesised from fps when
        None, forced to increase."""
        if pts is None:
            if self._last_pts is None:
                pts = 0
            else:
                step = int(round(1 / (self.fps * self.codec_time_base))) if self.fps else 1
                pts = self._last_pts + max(step, 1)
        else:
            pts = round(pts * self.time_base / self.codec_time_base)
        if self._last_pts is not None and pts <= self._last_pts:
            log.debug("non-increasing pts %s after %s; bumped", pts, self._last_pts)
            pts = self._last_pts + 1
        self._last_pts = pts
        return pts

    def write(self, image: np.ndarray, pts: int | None, audio: Sequence[Any] = ()) -> None:
        """Encode one BGR frame at pts (in time_base units), then mux the audio packets given."""
        import av

        if self._closed:
            raise RuntimeError("VideoSink is closed")
        if image.shape[:2] != (self.height, self.width):
            raise ValueError(f"frame is {image.shape[1]}x{image.shape[0]}, sink expects {self.width}x{self.height}")
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="bgr24")
        frame = frame.reformat(format=self.video.pix_fmt, interpolation=SWS_ACCURATE)
        frame.pts = self._next_pts(pts)
        frame.time_base = self.codec_time_base
        self._mux(self.video.encode(frame))
        self.frames += 1
        self.write_audio(audio)

    def write_audio(self, packets: Sequence[Any]) -> None:
        """Remux input audio packets unchanged into their matching output streams.

        Packets keep their input time_base; PyAV's mux rescales them to the output stream's.
        """
        for packet in packets:
            key = packet.stream.index
            if key in self._transcode:
                self._mux(self._transcode[key].encode(packet))
                continue
            stream = self._audio.get(key)
            if stream is None or not packet.size or packet.dts is None:
                continue
            dts = packet.dts * packet.time_base if packet.time_base else None
            if dts is not None:
                if key in self._audio_dts and dts <= self._audio_dts[key]:
                    log.debug("audio packet with non-increasing dts %s dropped", dts)
                    continue
                self._audio_dts[key] = dts
            packet.stream = stream
            self._mux([packet])

    def _fault(self, exc: BaseException, doing: str) -> BaseException:
        """The one-line error for a write fault (StdoutClosed when our reader went away)."""
        if self._stdout and _is_broken_pipe(exc):
            return StdoutClosed()
        code = getattr(exc, "errno", None)
        if code == errno.ENOSPC or "No space left" in str(exc):
            return OutputError(f"disk full while {doing} {self.target} ({self.frames} frames encoded); "
                               + ("nothing was written under that name" if self.path != self.target
                                  else "the output is incomplete"))
        reason = getattr(exc, "strerror", None) or str(exc)
        return OutputError(f"cannot write {self.target} while {doing} ({self.frames} frames encoded): {reason}")

    def _mux(self, packets: Sequence[Any]) -> None:
        self._muxed = self._muxed or bool(packets)
        try:
            self.container.mux(packets)
        except (self._av_error, OSError) as exc:
            raise self._fault(exc, "writing") from None

    def close(self) -> None:
        """Flush the encoder, write the trailer and put the file in place (rename). Safe to call twice.

        A fault here (disk full) removes the temporary file and raises OutputError."""
        if self._closed:
            return
        self._closed = True
        try:
            try:
                if self.frames:
                    self.container.mux(self.video.encode(None))
                for transcoder in self._transcode.values():
                    self.container.mux(transcoder.encode(None))
            finally:
                self.container.close()
            if self._stdout:
                sys.stdout.buffer.flush()
        except (self._av_error, OSError, ValueError) as exc:
            self._drop_partial()
            fault = self._fault(exc, "finishing")
            if isinstance(fault, StdoutClosed):
                raise fault from None
            raise fault from None
        if self.path != self.target and os.path.exists(self.path):
            if self.frames or self._muxed:
                os.replace(self.path, self.target)
            else:  # nothing but the header: no file, as before any frame
                self._drop_partial()

    def _start(self, codec: str) -> None:
        """Open the encoders and write the container's header now: settings an encoder refuses (a frame rate, a
        size) and streams a container cannot hold fail before any frame is read, with FFmpeg's reason."""
        import av
        import av.logging

        level = av.logging.get_level()
        av.logging.set_level(av.logging.ERROR)  # (PyAV keeps FFmpeg's reasons only while logging)
        try:
            with av.logging.Capture():
                self.container.start_encoding()
        except (av.FFmpegError, ValueError, OSError) as exc:
            self.abort()
            if getattr(exc, "errno", None) in _WRITE_FAULTS or (self._stdout and _is_broken_pipe(exc)):
                raise self._fault(exc, "writing") from None  # the disk or the pipe, not the settings
            reason = getattr(exc, "log", None)
            reason = reason[2].strip() if reason else str(exc)
            raise UserError(f"cannot write {self.target} ({codec} video in {self.container.format.name}): "
                            f"{reason}") from None
        finally:
            av.logging.set_level(level)

    def abort(self) -> None:
        """Stop without finishing: close what is open and remove the temporary file (the target is untouched)."""
        self._closed = True
        try:
            self.container.close()
        except Exception:  # noqa: BLE001 - aborting: the file is dropped anyway
            pass
        self._drop_partial()

    def _drop_partial(self) -> None:
        if not self._stdout and self.path != self.target:
            Path(self.path).unlink(missing_ok=True)

    def __enter__(self) -> "VideoSink":
        return self

    def __exit__(self, kind: Any, *exc: object) -> None:
        if kind is None or issubclass(kind, KeyboardInterrupt):
            self.close()  # finished, or interrupted: a playable file with what was written
        else:
            self.abort()
