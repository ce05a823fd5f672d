"""Whose face is this (faces/person.py): the rule that gives an adapted engine its own person's tracks."""

from __future__ import annotations

import numpy as np
import pytest

from streamdeblur.faces.person import PersonMatcher


def test_a_track_is_decided_on_the_mean_of_its_first_faces_then_kept():
    """Embeddings are looked up by the box's x (a stand-in embedder); a reference along axis 0."""
    table = {0: [1.0, 0.0], 1: [0.9, 0.436], 2: [0.0, 1.0], 3: [1.0, 0.0], 4: [0.0, 1.0]}
    calls = []

    def embedder(image, box, landmarks):
        calls.append(int(box[0]))
        return np.array(table[int(box[0])])

    match = PersonMatcher({"vectors": [[2.0, 0.0]], "threshold": 0.93, "faces": 3}, embedder)
    image = np.zeros((4, 4, 3), np.uint8)
    assert match(7, image, np.array([0, 0, 1, 1]), None)  # cos 1
    assert match(7, image, np.array([1, 0, 1, 1]), None)  # mean of (1, 0) and (0.9, 0.436): cos 0.97
    assert not match(7, image, np.array([2, 0, 1, 1]), None)  # a third, far face: the mean's cos 0.83
    assert not match(7, image, np.array([3, 0, 1, 1]), None)  # decided after three faces: no more embedding
    assert calls == [0, 1, 2]
    assert not match(8, image, np.array([4, 0, 1, 1]), None)  # another track, decided on its own faces


def test_two_references_make_two_people_the_engines():
    match = PersonMatcher({"vectors": [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], "threshold": 0.93, "faces": 1},
                          lambda image, box, landmarks: np.eye(3)[int(box[0])])
    image = np.zeros((4, 4, 3), np.uint8)
    assert [match(t, image, np.array([t, 0, 1, 1]), None) for t in range(3)] == [True, True, False]


def test_dlib_tells_a_person_from_other_people_on_real_clips():
    """The reference: a sharp clip of one woman; the same woman's other frames match, the two people of another
    clip (with cuts) do not."""
    pytest.importorskip("dlib")
    from tests.conftest import shared_path
    from streamdeblur.eval.video import read_frames
    from streamdeblur.faces.detection import largest_face
    from streamdeblur.faces.detect import create_detector
    from streamdeblur.faces.person import create_embedder, reference_identity

    woman = shared_path("data/tests/pexels_woman_640x360.mp4")
    others = shared_path("data/tests/short_hamilton_clip.mp4")
    embedder, detector = create_embedder(), create_detector("yunet")
    identity = reference_identity([woman], embedder, detector, max_frames=60)
    assert len(identity["vectors"]) == 1 and len(identity["vectors"][0]) == 128
    for clip, first, expected in ((woman, 80, True), (others, 0, False)):
        match = PersonMatcher(identity, embedder)
        frames, _ = read_frames(clip, first + 30)
        decisions = []
        for i, image in enumerate(frames[first::10]):
            face = largest_face(detector.detect(image), 40)
            if face is not None:
                decisions.append(match(i, image, face.box, face.landmarks))  # each face its own track
        assert decisions and all(d == expected for d in decisions), (clip.name, decisions)


def _adapted_folder(tmp_path, identity):
    """An engine folder as `adapt -o` writes it (the released naf's weights stand in for adapted ones)."""
    import json
    import shutil

    from streamdeblur.models import get_spec

    folder = tmp_path / "anna"
    folder.mkdir(parents=True)
    shutil.copy(get_spec("naf").weights_path, folder / "model.safetensors")
    (folder / "card.json").write_text(json.dumps({"model": "naf", "adapted": {"identity": identity}}))
    return folder


def test_an_adapted_folder_becomes_a_personal_engine_beside_the_released_one(tmp_path, monkeypatch):
    from streamdeblur.backends import PersonalEngine, SettledEngine, create_engine
    from streamdeblur.faces import person

    monkeypatch.setattr(person, "create_embedder", lambda name="dlib-resnet": (lambda image, box, lm: np.ones(2)))
    engine = create_engine("fast", weights=_adapted_folder(tmp_path, {"embedder": "dlib-resnet", "vectors": [[1, 1]]}),
                           backend="torch")
    assert isinstance(engine, PersonalEngine) and engine.model == "naf"  # the card's model, not the one asked
    assert not isinstance(engine.engine, SettledEngine) and isinstance(engine.base, SettledEngine)  # released: settle
    crops = np.random.default_rng(0).integers(0, 255, (2, 128, 128, 3), dtype=np.uint8)
    assert engine.routes == (engine.engine, engine.base)
    from streamdeblur.models import read_card
    from streamdeblur.pipeline import ProcessOptions, gate_levels

    # process gates each route at its own card's level (this card has none), or all at --gate's
    assert gate_levels(ProcessOptions(), engine) == (None, read_card("naf")["gate"])
    assert gate_levels(ProcessOptions(gate=2.0), engine) == (2.0, 2.0)
    bare = create_engine("naf", settle=None, weights=_adapted_folder(tmp_path / "c", {"embedder": "dlib-resnet",
                                                                                      "vectors": [[1, 1]]}))
    assert not isinstance(bare.base, SettledEngine)  # --no-gate: both routes bare
    engine.engine, engine.base = (lambda c: c // 2), (lambda c: c // 3)  # tell the routes apart
    assert np.array_equal(engine(crops), crops // 2)  # crops without tracks: each one's own embedding, its person
    assert engine.matcher(1, crops[0], np.array([0, 0, 9, 9]), None)
    other = create_engine("naf", weights=_adapted_folder(tmp_path / "b", {"embedder": "dlib-resnet",
                                                                          "vectors": [[1, -1]]}), backend="torch")
    other.engine, other.base = (lambda c: c // 2), (lambda c: c // 3)  # tell the routes apart
    assert np.array_equal(other(crops), crops // 3)  # cosine 0 to its person: the released engine


def test_without_an_embedder_an_adapted_folder_restores_every_face_and_says_so(tmp_path, monkeypatch, caplog):
    from streamdeblur.backends import PersonalEngine, create_engine
    from streamdeblur.errors import MissingDependencyError
    from streamdeblur.faces import person

    def missing(name="dlib-resnet"):
        raise MissingDependencyError("dlib is not installed (pip install 'streamdeblur[eval]')")

    monkeypatch.setattr(person, "create_embedder", missing)
    folder = _adapted_folder(tmp_path, {"embedder": "dlib-resnet", "vectors": [[1, 1]]})
    engine = create_engine("naf", weights=folder, backend="torch")
    assert not isinstance(engine, PersonalEngine) and engine.model == "naf"
    assert "restores every face" in caplog.text and "dlib is not installed" in caplog.text


def test_a_reference_whose_face_shows_late_is_still_found_and_one_without_faces_is_refused(tmp_path):
    """Frames spread over the clip miss a face that shows in only a few of them: every frame is then tried."""
    pytest.importorskip("dlib")
    from tests.conftest import shared_path
    from streamdeblur.errors import UserError
    from streamdeblur.eval.video import read_frames, write_video
    from streamdeblur.faces.detect import create_detector
    from streamdeblur.faces.person import create_embedder, reference_identity

    frames, fps = read_frames(shared_path("data/tests/pexels_woman_640x360.mp4"), 60)
    blank = [np.zeros_like(frames[0])] * 55
    late = write_video(tmp_path / "late.mp4", blank + frames[:5], fps)
    embedder, detector = create_embedder(), create_detector("yunet")
    found = reference_identity([late], embedder, detector)
    whole = reference_identity([write_video(tmp_path / "all.mp4", frames, fps)], embedder, detector)
    assert float(np.dot(found["vectors"][0], whole["vectors"][0])) > 0.95
    with pytest.raises(UserError, match="no face"):
        reference_identity([write_video(tmp_path / "none.mp4", blank, fps)], embedder, detector)
