"""Video input: open_source(uri) -> VideoSource yielding Frames (BGR uint8) with their timing.

URIs: a file path; '-' or 'pipe:' for stdin; rtsp://, rtmp://, http(s):// streams; /dev/videoN or
webcam:N for a V4L2 camera. PyAV is the default decoder; decord is an option for files.
Audio packets are demuxed alongside and handed on, attached to the next Frame, so the sink can
remux them unchanged and in order.

Audio attachment rule: a Frame is handed out only once the next one is decoded (or the input
ended), carrying every audio packet demuxed until then; the last Frame carries all remaining
audio packets, so none is lost. `trailing_audio` holds audio that no frame could carry (an
input with no decodable video frame); write it after the last frame (VideoSink.write_audio).

Timestamps: Frame.pts is in the source's time_base (the video stream's). A frame without a
pts (e.g. the first frames of an RTSP stream) gets the previous pts plus one frame duration.

Rotation metadata (the display matrix) is honoured: images are rotated so that they appear
upright, and width/height are the rotated size (flips in the matrix are not applied).

Live inputs (rtsp/rtmp/http(s), cameras) that fail with an error while reading (including no
data for `timeout` seconds) are reopened up to `reconnect` times (default 3), logging a line on
the "streamdeblur" logger; a clean end of stream ends the iteration. Video and audio timestamps
after a reconnect are shifted to continue where the dropped connection stopped.

A source is iterated once; the first frame is decoded on open, so a bad input fails there.
"""

from __future__ import annotations

import logging
from typing import Any

from streamdeblur.errors import UserError
from streamdeblur.io.media import (DECODERS, Frame, VideoSource, camera_device, error_text, is_network, is_stdin, redact,
                                   rotate_image, rotated_size)
from streamdeblur.io.pyav_source import PyAVSource

__all__ = ["DECODERS", "Frame", "PyAVSource", "VideoSource", "camera_device", "error_text", "is_network", "is_stdin",
           "open_source", "redact", "rotate_image", "rotated_size"]

log = logging.getLogger("streamdeblur")


def open_source(uri: str, decoder: str = "pyav", **options: Any) -> VideoSource:
    """Open a file, pipe, stream or camera. Raises UserError with a one-line reason when it cannot.

    Options: format (container format, e.g. for stdin), timeout (seconds, default 10),
    rtsp_transport ('tcp' default), listen (wait for a publisher to push RTSP/RTMP to the URL),
    listen_timeout (seconds, default 20), reconnect (live re-open attempts, default 3),
    options (dict passed to FFmpeg as-is).
    """
    uri = str(uri)
    if decoder not in DECODERS:
        raise UserError(f"unknown decoder {decoder!r}; choose one of: {', '.join(DECODERS)}")
    if decoder == "decord":
        from streamdeblur.io.decord_source import DecordCannotRead, DecordSource

        try:
            return DecordSource(uri, **options)
        except DecordCannotRead as exc:
            log.warning("%s; decoding it with PyAV instead", exc)
    return PyAVSource(uri, **options)
