"""Pairs from one video: decode once through a sliding buffer (bounded memory), detect and track
faces on every frame, and for each centre frame build a (blurry, sharp) pair of the largest face
detected there, by VLA, fixed-length averaging (PrAvg), a synthetic camera-shake kernel, or a
flow-interpolated exposure of the real motion (`motion`, data/exposure.py; with frames=K also the
K consecutive exposures around it, for temporal engines).

The face of a pair is the largest face detected on its centre frame; the window follows that
face's track (stopping where the track does). --reverse also parses the clip backwards: centre
frames are then counted from the last frame (n-1, n-1-stride, ...). The average of a symmetric
window does not depend on the direction of time, so what the backward pass adds is the centres
the forward stride skipped (keys end in '_r'); with stride 1 it adds nothing.

Reuses the stages of `process`: io.source.open_source, faces.detect.create_detector,
faces.track.Tracker and the crop geometry of faces.crops (landmark alignment, box fallback).
"""

from __future__ import annotations

import time
import zlib
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Iterator

import numpy as np

from streamdeblur.data import blur, exposure
from streamdeblur.faces.crops import box_matrix, extract_crop, face_matrix
from streamdeblur.faces.track import Track

METHODS = ("vla", "pravg", "kernel", "motion")
SHARPNESS_SIZE = 128  # the sharp-frame test and the reported sharpness are measured at this crop size


def face_sharpness(image: np.ndarray, box: np.ndarray, landmarks: np.ndarray | None, margin: float) -> float:
    """The sharpness make-pairs judges a face by (--min-sharpness): variance of the Laplacian of its 128 px crop."""
    return blur.sharpness(extract_crop(image, face_matrix(box, landmarks, SHARPNESS_SIZE, margin), SHARPNESS_SIZE))


# A clip's sharp faces: those of at least this share of the 90th percentile of its faces' sharpness. A face's
# detail is its own (these measure 1000-3600 on the held-out clips, make-pairs' absolute floor is 20), so a clip
# is its own yardstick: where a head moves fast, its faces measure a third less (engines/naf-hd/NOTES.md, session 36).
# `adapt` makes pairs of a reference's sharp faces only (this share), and `eval --video` scores only faces whose
# source is not clearly blurred (eval.video.SHARP_TRUTH).
SHARP_SHARE = 0.7


def sharp_floor(sharpness: Any, share: float = SHARP_SHARE) -> float:
    """The sharpness under which one clip's faces count as blurred in the clip itself: `share` of the 90th
    percentile of their face_sharpness (0 when there are none)."""
    values = np.asarray(sharpness, np.float64)
    return share * float(np.percentile(values, 90)) if values.size else 0.0


@dataclass(frozen=True)
class PairOptions:
    """How pairs are made from a video (everything that decides their content)."""

    method: str = "vla"
    lengths: tuple[int, ...] = (7,)  # PrAvg window lengths (odd); one is drawn per centre frame
    vla: blur.VLAConfig = blur.VLAConfig()
    size: int = 256
    margin: float = 0.4
    stride: int = 4
    reverse: bool = False
    linear: bool = True
    min_face: float = 64.0  # face box side in frame pixels
    min_sharpness: float = 20.0  # variance of Laplacian of the sharp crop at 128 px
    min_motion: float = 0.0  # mean |blurry - sharp| in grey levels; below: skipped as 'still'
    kernel_sizes: tuple[int, int] = (13, 27)  # at 256 px, scaled with size
    noise: float = 2.0  # blurry images get Gaussian noise of sigma uniform in [0, noise] grey levels
    motion: exposure.MotionConfig = exposure.MotionConfig()  # the `motion` method's ranges
    seed: int = 0
    detector: str = "yunet"
    detect_size: int = 640  # the longest side the detector sees each frame at (adapt: its faces' side made 128 px)
    analysis_size: int = 64  # crop size for the flow and similarity tests
    max_frames: int | None = None

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"unknown method {self.method!r}; choose one of {', '.join(METHODS)}")
        if not self.lengths or any(n < 1 or n % 2 == 0 for n in self.lengths):
            raise ValueError(f"window lengths must be odd and positive, got {self.lengths}")
        if self.stride < 1 or self.size < 16:
            raise ValueError("stride must be >= 1 and size >= 16")
        if self.detect_size < 64:
            raise ValueError(f"the detector's size must be at least 64 px, got {self.detect_size}")
        if not 3 <= self.kernel_sizes[0] <= self.kernel_sizes[1]:
            raise ValueError(f"kernel sizes must satisfy 3 <= min <= max, got {self.kernel_sizes}")

    @property
    def radius(self) -> int:
        """Frames needed on each side of a centre frame."""
        if self.method == "vla":
            return self.vla.max_length // 2
        if self.method == "pravg":
            return max(self.lengths) // 2
        if self.method == "motion":
            return self.motion.radius
        return 0

    @property
    def min_window(self) -> int:
        """Fewest frames a pair needs."""
        return {"vla": self.vla.min_length, "pravg": min(self.lengths), "kernel": 1, "motion": 2}[self.method]


@dataclass
class Pair:
    """One training pair: uint8 BGR crops of equal size and its metadata (json-ready); frames: the K
    consecutive blurred crops of a multi-frame group side by side (K*S wide), blurry the centre one; targets
    (MotionConfig.targets): their K sharp frames likewise, sharp the centre one."""

    key: str
    blurry: np.ndarray
    sharp: np.ndarray
    meta: dict[str, Any]
    frames: np.ndarray | None = None
    targets: np.ndarray | None = None


@dataclass
class VideoStats:
    """What happened to one video."""

    frames: int = 0
    pairs: int = 0
    skipped: Counter = field(default_factory=Counter)  # window skip reasons
    lengths: Counter = field(default_factory=Counter)  # L of the pairs made
    stop_reasons: Counter = field(default_factory=Counter)
    seconds: float = 0.0
    error: str | None = None  # why the whole video gave nothing (unreadable, no_face, too_short, ...)

    def to_json(self) -> dict[str, Any]:
        """Plain dict for journals and summaries."""
        return {"frames": self.frames, "pairs": self.pairs, "skipped": dict(self.skipped),
                "lengths": {str(k): v for k, v in sorted(self.lengths.items())},
                "stop_reasons": dict(self.stop_reasons), "seconds": round(self.seconds, 3), "error": self.error}


@dataclass
class _Entry:
    image: np.ndarray
    tracks: dict[int, Track]


def _area(box: np.ndarray) -> float:
    return float((box[2] - box[0]) * (box[3] - box[1]))


def _side(box: np.ndarray) -> float:
    return float(max(box[2] - box[0], box[3] - box[1]))


class VideoPairMaker:
    """Turns the frames of one video into pairs. Feed frames in order with push(), then finish()."""

    def __init__(self, video_id: str, options: PairOptions, stats: VideoStats, detector: Any,
                 frame_count: int | None = None, source_name: str = "") -> None:
        from streamdeblur.faces.track import Tracker

        self.video_id = video_id
        self.source_name = source_name or video_id
        self.o = options
        self.stats = stats
        self.detector = detector
        self.tracker = Tracker()
        self.frame_count = frame_count
        self.buffer: dict[int, _Entry] = {}
        self.motions: dict[tuple[int, int], blur.PairMotion] = {}
        self.n = 0  # frames pushed
        self.faces_seen = 0
        self._hash = zlib.crc32(video_id.encode())

    # --- feeding -------------------------------------------------------------------------------

    def push(self, image: np.ndarray) -> Iterator[Pair]:
        """Add the next frame; yields the pairs whose windows are now complete."""
        i = self.n
        self.n += 1
        tracks = self.tracker.update(self.detector.detect(image))
        if any(t.detected for t in tracks):
            self.faces_seen += 1
        self.buffer[i] = _Entry(image, {t.track_id: t for t in tracks})
        r = self.o.radius
        if i - r >= 0:
            yield from self._centre(i - r)
        self._evict(i - 2 * r)

    def finish(self) -> Iterator[Pair]:
        """The input ended: yields the pairs of the last centre frames."""
        r = self.o.radius
        for c in range(max(0, self.n - r), self.n):
            yield from self._centre(c)
        self.buffer.clear()

    def _evict(self, first_kept: int) -> None:
        for k in [k for k in self.buffer if k < first_kept]:
            del self.buffer[k]
        for key in [key for key in self.motions if key[1] < first_kept]:
            del self.motions[key]

    # --- one centre frame ----------------------------------------------------------------------

    def _is_centre(self, c: int) -> tuple[bool, bool]:
        forward = c % self.o.stride == 0
        backward = (self.o.reverse and self.frame_count is not None and not forward
                    and (self.frame_count - 1 - c) % self.o.stride == 0)
        return forward, backward

    def _skip(self, reason: str) -> None:
        self.stats.skipped[reason] += 1

    def _centre(self, c: int) -> Iterator[Pair]:
        forward, backward = self._is_centre(c)
        if not (forward or backward):
            return
        entry = self.buffer[c]
        faces = [t for t in entry.tracks.values() if t.detected]
        if not faces:
            self._skip("no_face")
            return
        track = max(faces, key=lambda t: _area(t.box))
        if _side(track.box) < self.o.min_face:
            self._skip("face_too_small")
            return
        sharp_score = face_sharpness(entry.image, track.box, track.landmarks, self.o.margin)
        if sharp_score < self.o.min_sharpness:
            self._skip("blurry_sharp")
            return
        rng = np.random.default_rng([self.o.seed, self._hash, c, int(backward)])
        if self.o.method == "kernel":
            pair = self._kernel_pair(c, track, rng)
        elif self.o.method == "motion":
            pair = self._motion_pair(c, track, rng)
        else:
            pair = self._average_pair(c, track, rng)
        if pair is None:
            return
        pair.meta["sharpness"] = round(sharp_score, 2)
        pair.meta["reverse"] = backward
        if pair.meta["motion"] < self.o.min_motion:
            self._skip("still")
            return
        if backward:
            pair.key += "_r"
            pair.meta["key"] = pair.key
        self.stats.pairs += 1
        self.stats.lengths[int(round(pair.meta["length"]))] += 1
        self.stats.stop_reasons[pair.meta["stop_reason"]] += 1
        yield pair

    def _key(self, c: int) -> str:
        return f"{self.video_id}_{self.o.method}_{c:06d}"

    def _meta(self, c: int, start: int, stop: int, matrix: np.ndarray, box: np.ndarray) -> dict[str, Any]:
        return {"key": self._key(c), "video": self.source_name, "video_id": self.video_id,
                "method": self.o.method, "center": c, "frames": [start, stop], "size": self.o.size,
                "margin": self.o.margin, "linear": self.o.linear,
                "crop_matrix": np.round(matrix, 5).tolist(), "face_box": np.round(box, 2).tolist()}

    def _finish_pair(self, c: int, blurry: np.ndarray, sharp: np.ndarray, meta: dict[str, Any],
                     rng: np.random.Generator) -> Pair:
        sigma = float(rng.uniform(0.0, self.o.noise)) if self.o.noise > 0 else 0.0
        if sigma > 0:
            noisy = blurry.astype(np.float32) + rng.normal(0.0, sigma, blurry.shape).astype(np.float32)
            blurry = np.clip(noisy + 0.5, 0, 255).astype(np.uint8)
        meta["noise"] = round(sigma, 3)
        meta["motion"] = round(blur.mean_abs_diff(blurry, sharp), 3)
        meta["sharpness_pair"] = {"sharp": round(blur.sharpness(sharp), 2), "blur": round(blur.sharpness(blurry), 2)}
        return Pair(meta["key"], blurry, sharp, meta)

    def _kernel_pair(self, c: int, track: Track, rng: np.random.Generator) -> Pair:
        size = self.o.size
        lo, hi = (max(3, int(k * size / 256 + 0.5)) for k in self.o.kernel_sizes)
        ksize = int(rng.integers(lo, hi + 1))
        kernel = blur.motion_kernel(ksize, rng)
        matrix = face_matrix(track.box, track.landmarks, size, self.o.margin)
        padded = matrix.copy()
        padded[:, 2] += ksize
        big = extract_crop(self.buffer[c].image, padded, size + 2 * ksize)
        inner = (slice(ksize, ksize + size), slice(ksize, ksize + size))
        blurry = blur.apply_kernel(big, kernel, linear=self.o.linear)[inner]
        meta = self._meta(c, c, c + 1, matrix, track.box)
        meta.update(length=1, stop_reason="kernel", kernel_size=ksize, flow_px=float(blur.kernel_extent(kernel)),
                    kernel=np.round(kernel, 6).tolist())  # the true kernel: eval's non-blind deconvolution bound
        return self._finish_pair(c, blurry, np.ascontiguousarray(big[inner]), meta, rng)

    def _motion(self, track_id: int, i: int) -> blur.PairMotion | None:
        """Flow of the tracked face from frame i to i+1 (cached), None when either is missing."""
        key = (track_id, i)
        if key not in self.motions:
            a, b = self.buffer.get(i), self.buffer.get(i + 1)
            if a is None or b is None or track_id not in a.tracks or track_id not in b.tracks:
                return None
            a_size = self.o.analysis_size
            m = box_matrix(a.tracks[track_id].box, a_size, self.o.margin)
            self.motions[key] = blur.pair_motion(extract_crop(a.image, m, a_size), extract_crop(b.image, m, a_size),
                                                 self.o.vla.flow_method)
        return self.motions[key]

    def _average_pair(self, c: int, track: Track, rng: np.random.Generator) -> Pair | None:
        tid = track.track_id
        r = self.o.radius
        offsets = range(c - r, c + r + 1)
        present = [k in self.buffer and tid in self.buffer[k].tracks for k in offsets]
        if self.o.method == "vla":
            a_size = self.o.analysis_size
            m = box_matrix(track.box, a_size, self.o.margin)
            crops = [extract_crop(self.buffer[k].image, m, a_size) if ok else None for k, ok in zip(offsets, present)]
            boxes = [self.buffer[k].tracks[tid].box if ok else None for k, ok in zip(offsets, present)]
            result = blur.grow_vla(crops, boxes, r, self.o.vla, motion=lambda j: self._motion(tid, c - r + j))
            if result.length < self.o.vla.min_length:
                self._skip(f"short_window:{result.reason}")
                return None
            length, reason, similarity = result.length, result.reason, result.similarity
        else:
            length, reason, similarity = int(rng.choice(self.o.lengths)), "fixed", None
            half = length // 2
            if c - half < 0 or c + half >= self.n or not all(present[r - half:r + half + 1]):
                self._skip("clip_edge" if c - half < 0 or c + half >= self.n else "track_lost")
                return None
        start, stop = blur.window_bounds(c, length)
        motions = [self._motion(tid, k) for k in range(start, stop - 1)]
        if self.o.method == "pravg" and any(
            m is None or m.residual > self.o.vla.max_residual or m.magnitude > self.o.vla.max_step * m.size
            for m in motions
        ):
            self._skip("scene_cut")
            return None
        tracks = [self.buffer[k].tracks[tid] for k in range(start, stop)]
        box = np.mean([t.box for t in tracks], axis=0)
        landmarks = np.mean([t.landmarks for t in tracks], axis=0)
        matrix = face_matrix(box, landmarks, self.o.size, self.o.margin)
        crops = [extract_crop(self.buffer[k].image, matrix, self.o.size) for k in range(start, stop)]
        blurry = blur.average_frames(crops, linear=self.o.linear)
        meta = self._meta(c, start, stop, matrix, box)
        scale = self.o.size / self.o.analysis_size
        meta.update(length=length, stop_reason=reason,
                    flow_px=round(scale * sum(m.magnitude for m in motions if m is not None), 3))
        if similarity is not None:
            meta["similarity"] = round(float(similarity), 4)
        return self._finish_pair(c, blurry, crops[length // 2], meta, rng)

    def _track_span(self, tid: int, c: int) -> tuple[int, int]:
        """First and last frame around c (within the buffer and radius) where track tid is present."""
        lo = c
        while lo - 1 >= c - self.o.radius and lo - 1 in self.buffer and tid in self.buffer[lo - 1].tracks:
            lo -= 1
        hi = c
        while hi + 1 <= c + self.o.radius and hi + 1 in self.buffer and tid in self.buffer[hi + 1].tracks:
            hi += 1
        return lo, hi

    def _motion_pair(self, c: int, track: Track, rng: np.random.Generator) -> Pair | None:
        mo, size = self.o.motion, self.o.size
        tid, half = track.track_id, mo.frames // 2
        lo, hi = self._track_span(tid, c)
        shutter = float(rng.uniform(*mo.shutter))
        # the fastest speed whose K exposures fit in the track's frames: (half + shutter/2) * speed <= room
        room = min(c - lo, hi - c)
        fit = room / (half + shutter / 2.0) if room > 0 else 0.0
        if fit < mo.speed[0]:
            self._skip("clip_edge" if c - self.o.radius < 0 or c + self.o.radius >= self.n else "track_lost")
            return None
        speed = float(rng.uniform(mo.speed[0], min(mo.speed[1], fit)))
        length = speed * shutter
        crf = float(rng.uniform(*mo.crf))
        if mo.crf_share < 1.0 and rng.uniform() >= mo.crf_share:  # drawn only then: default sets stay byte-identical
            crf = 0.0
        first, last = exposure.exposure_span(c - half * speed, length)[0], exposure.exposure_span(c + half * speed, length)[1]
        motions = [self._motion(tid, k) for k in range(first, last)]
        if any(m is None or m.residual > self.o.vla.max_residual or m.magnitude > self.o.vla.max_step * m.size
               for m in motions):
            self._skip("scene_cut")
            return None
        pad = max(8, size // 8)  # real pixels around the crop for the warps near its border
        inner = (slice(pad, pad + size), slice(pad, pad + size))
        face = (slice(pad + size // 4, pad + 3 * size // 4),) * 2
        blurred, matrices, extents, steps, targets = [], [], [], [], []
        for k in range(-half, half + 1):
            centre = c + k * speed
            a, b = exposure.exposure_span(centre, length)
            tracks = [self.buffer[j].tracks[tid] for j in range(a, b + 1)]
            matrix = face_matrix(np.mean([t.box for t in tracks], axis=0), np.mean([t.landmarks for t in tracks], axis=0),
                                 size, self.o.margin)
            padded = matrix.copy()
            padded[:, 2] += pad
            crops = [extract_crop(self.buffer[j].image, padded, size + 2 * pad) for j in range(a, b + 1)]
            synth = exposure.ExposureSynth(crops, linear=self.o.linear)
            step = max((float(np.percentile(np.hypot(*np.moveaxis(synth.flows(i)[0][face], 2, 0)), 90))
                        for i in range(len(crops) - 1)), default=0.0)
            sub = exposure.subframes_for(step, mo.subframes)
            image = synth.exposure(centre - a, length, sub)
            if k == 0:
                sharp = np.ascontiguousarray(crops[c - a][inner])
                extent = synth.path_length(centre - a, length, face)
            if mo.targets:  # the source at the exposure's centre time (a zero-length exposure)
                targets.append(sharp if k == 0 else np.ascontiguousarray(synth.exposure(centre - a, 0.0, 1)[inner]))
            blurred.append(image)
            matrices.append(matrix)
            extents.append(round(synth.path_length(centre - a, length, face), 3))
            steps.append(sub)
        shake_size = 0
        if mo.shake > 0 and rng.uniform() < mo.shake:
            shake_size = int(rng.integers(3, max(4, size // 16) + 1))
            kernel = blur.motion_kernel(shake_size, rng)
            blurred = [blur.apply_kernel(image, kernel, linear=self.o.linear) for image in blurred]
        blurred = [np.ascontiguousarray(image[inner]) for image in blurred]
        sigma = float(rng.uniform(0.0, self.o.noise)) if self.o.noise > 0 else 0.0
        if sigma > 0:
            blurred = [np.clip(image.astype(np.float32) + rng.normal(0.0, sigma, image.shape).astype(np.float32) + 0.5,
                               0, 255).astype(np.uint8) for image in blurred]
        if crf > 0:
            blurred = exposure.encode_roundtrip(blurred, crf)
        centre_blur = blurred[half]
        meta = self._meta(c, first, last + 1, matrices[half], track.box)
        meta.update(length=round(length, 4), stop_reason="motion", speed=round(speed, 4), shutter=round(shutter, 4),
                    exposure=round(length, 4), subframes=steps[half], crf=round(crf, 2), noise=round(sigma, 3),
                    shake_kernel=shake_size, flow_px=round(float(np.mean([m.magnitude for m in motions])) * size / self.o.analysis_size, 3)
                    if motions else 0.0, blur_px=round(extent, 3), group=mo.frames,
                    motion=round(blur.mean_abs_diff(centre_blur, sharp), 3),
                    sharpness_pair={"sharp": round(blur.sharpness(sharp), 2), "blur": round(blur.sharpness(centre_blur), 2)})
        if mo.frames > 1:
            meta.update(group_centres=[round(c + k * speed, 4) for k in range(-half, half + 1)], group_blur_px=extents,
                        group_subframes=steps, group_matrices=[np.round(m, 5).tolist() for m in matrices])
        return Pair(meta["key"], centre_blur, sharp, meta, np.hstack(blurred) if mo.frames > 1 else None,
                    np.hstack(targets) if targets else None)


def video_pairs(uri: str, video_id: str, options: PairOptions, stats: VideoStats, source_name: str = "",
                detector: Any = None) -> Iterator[Pair]:
    """All pairs of one video file, in frame order; fills stats (stats.error says why nothing came)."""
    from streamdeblur.errors import UserError
    from streamdeblur.faces.detect import SIZE_OPTION, create_detector
    from streamdeblur.io.source import open_source

    started = time.perf_counter()
    try:
        source = open_source(uri)
    except UserError as exc:
        stats.error = f"unreadable: {exc}"
        return
    try:
        detector = detector if detector is not None else create_detector(
            options.detector, **{SIZE_OPTION[options.detector]: options.detect_size})
        frame_count = source.frame_count
        if options.reverse and frame_count is None:
            frame_count = _count_frames(uri)
        if options.max_frames is not None and frame_count is not None:
            frame_count = min(frame_count, options.max_frames)
        maker = VideoPairMaker(video_id, options, stats, detector, frame_count, source_name)
        for image in _frames(source, stats):
            yield from maker.push(image)
            if options.max_frames is not None and maker.n >= options.max_frames:
                break
        if maker.n == 0 and stats.error:
            return
        yield from maker.finish()
        stats.frames = maker.n
        if stats.pairs == 0 and stats.error is None:
            if maker.n == 0:
                stats.error = "unreadable: no decodable frame"
            elif maker.faces_seen == 0:
                stats.error = "no_face"
            elif maker.n < options.min_window:
                stats.error = "too_short"
            else:
                stats.error = "no_pairs"
    finally:
        source.close()
        stats.seconds += time.perf_counter() - started


def _frames(source: Any, stats: VideoStats) -> Iterator[np.ndarray]:
    """The source's images; a decoding error ends the video (noted in stats), never the run."""
    iterator = iter(source)
    n = 0
    while True:
        try:
            frame = next(iterator)
        except StopIteration:
            return
        except Exception as exc:  # noqa: BLE001 - a corrupt stream ends this video only
            if n == 0:
                stats.error = f"unreadable: {type(exc).__name__}: {exc}"
            else:
                stats.skipped["decode_error"] += 1
            return
        n += 1
        yield frame.image


def _count_frames(uri: str) -> int:
    """Frames of a file whose container does not say (decodes it once)."""
    from streamdeblur.io.source import open_source

    source = open_source(uri)
    try:
        return sum(1 for _ in source)
    finally:
        source.close()
