"""Whose face is this: an adapted engine (`streamdeblur adapt`) is for the person of its reference clips.

Fine-tuned on one person, an engine restores that person better and everybody else worse (it puts its
person's detail on their faces: engines/naf-hd/NOTES.md, session 29). So `adapt` stores a face embedding of
each reference clip in the engine's card, and `process` gives that engine only the tracks whose faces match
one of them; the other tracks get the released engine it was adapted from.

The embedding is dlib's ResNet descriptor (PyPI `dlib-bin` + `face-recognition-models`, the `eval` extra: its
weights come with the package, nothing is downloaded), made unit length. A track is decided on the mean of its
first FACES embeddings: with cosine at least THRESHOLD to a reference it is that person. Measured on the ten
held-out val clips (session 30), the second half of each clip as the reference and motion:8-blurred faces of
its first half as the track: the means of three faces were at least 0.93 for the same person (84 of 84) and
one of 756 for another person reached 0.93 (single faces: 0.85 to 0.99 for the same person, up to 0.93 for
another).
"""

from __future__ import annotations

from contextlib import closing
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from streamdeblur.faces.identity import unit

THRESHOLD = 0.93
FACES = 3
REFERENCE_FACES = 12  # faces sampled evenly from each reference clip


def create_embedder(name: str = "dlib-resnet") -> Any:
    """The embedder a card names (MissingDependencyError, a one-line UserError, when dlib is not installed)."""
    from streamdeblur.errors import UserError
    from streamdeblur.faces import identity

    if name != identity.DlibEmbedder.name:
        raise UserError(f"unknown face embedder {name!r} in the engine's card (this version knows "
                        f"{identity.DlibEmbedder.name!r})")
    return identity.create_embedder("dlib")


def reference_identity(clips: Sequence[Path], embedder: Any, detector: Any, max_frames: int | None = None,
                       faces: int = REFERENCE_FACES) -> dict[str, Any]:
    """The card's record of whose engine this is: one unit embedding per clip (the mean over up to `faces` frames
    spread over it, the largest face of each), the embedder's name and the matching rule. UserError for a clip
    without a face of at least 40 px."""
    from streamdeblur.errors import UserError
    from streamdeblur.faces.detection import largest_face

    vectors = []
    for clip in clips:
        found = []
        tried: set[int] = set()
        for every in (None, 1):  # frames spread over the clip; where they miss the face, each frame not yet tried
            with closing(sample_frames(Path(clip), faces - len(found), max_frames, every)) as frames:
                for index, image in frames:
                    if index in tried:
                        continue
                    tried.add(index)
                    face = largest_face(detector.detect(image), 40)
                    if face is not None:
                        found.append(unit(embedder(image, face.box, face.landmarks)))
                        if len(found) >= faces:
                            break
            if len(found) >= min(3, faces):
                break
        if not found:
            raise UserError(f"no face of at least 40 px found in {clip}")
        vectors.append(unit(np.mean(found, axis=0)).round(5).tolist())
    return {"embedder": embedder.name, "vectors": vectors, "threshold": THRESHOLD, "faces": FACES}


def sample_frames(clip: Path, count: int, max_frames: int | None = None,
                  every: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
    """(index, image) of frames `every` apart (default: about `count` spread evenly over the clip, or its first
    max_frames), decoded one at a time."""
    from streamdeblur.io.source import open_source

    source = open_source(str(clip))
    try:
        if every is None:
            total = min((n for n in (source.frame_count, max_frames) if n), default=10 * count)  # unknown: 10 apart
            every = max(1, total // max(count, 1))
        for i, frame in enumerate(source):
            if max_frames is not None and i >= max_frames:
                break
            if i % every == 0:
                yield i, frame.image
    finally:
        source.close()


def close_enough(references: np.ndarray, embedding: np.ndarray, threshold: float = THRESHOLD) -> bool:
    """Whether a unit embedding (a track's mean, or a clip's) is one of the references' person (their unit
    embeddings, one per row): cosine at least `threshold` to one of them."""
    return bool(float((np.atleast_2d(references) @ embedding).max()) >= threshold)


class PersonMatcher:
    """Decides per track whether its faces are the person (people) of the references; see the module docstring.
    A track's first FACES faces are embedded (each decision uses the mean so far), then its decision is kept."""

    def __init__(self, identity: dict[str, Any], embedder: Callable[..., np.ndarray]) -> None:
        self.vectors = unit(np.asarray(identity["vectors"], np.float64))
        self.threshold = float(identity.get("threshold", THRESHOLD))
        self.faces = int(identity.get("faces", FACES))
        self.embedder = embedder
        self.seen: dict[int, list[np.ndarray]] = {}
        self.decided: dict[int, bool] = {}

    def _matches(self, embeddings: list[np.ndarray]) -> bool:
        """Whether the mean of these unit embeddings is close enough to one of the references."""
        return close_enough(self.vectors, unit(np.mean(embeddings, axis=0)), self.threshold)

    def one(self, image: np.ndarray, box: np.ndarray, landmarks: np.ndarray | None) -> bool:
        """True when this one face is the references' person (no track: decided on its own embedding)."""
        return self._matches([unit(self.embedder(image, box, landmarks))])

    def __call__(self, track_id: int, image: np.ndarray, box: np.ndarray, landmarks: np.ndarray | None) -> bool:
        """True when this track is the references' person (embeds only its first few faces)."""
        if track_id in self.decided:
            return self.decided[track_id]
        seen = self.seen.setdefault(track_id, [])
        seen.append(unit(self.embedder(image, box, landmarks)))
        match = self._matches(seen)
        if len(seen) >= self.faces:
            self.decided[track_id] = match
            del self.seen[track_id]
        return match
