"""Tracker: stable ids, constant-velocity prediction, gaps, track end, smoothing; on real clips too."""

from __future__ import annotations

import numpy as np
import pytest

from streamdeblur.faces.detect import Detection
from streamdeblur.faces.track import Tracker, greedy_match, iou_matrix

OFFSETS = np.array([[-20, -10], [20, -10], [0, 5], [-15, 25], [15, 25]], np.float32)


def face(cx: float, cy: float, size: float = 100.0, score: float = 0.9) -> Detection:
    """A synthetic detection centred at (cx, cy)."""
    box = np.array([cx - size / 2, cy - size / 2, cx + size / 2, cy + size / 2], np.float32)
    return Detection(box=box, score=score, landmarks=(OFFSETS * size / 100 + [cx, cy]).astype(np.float32))


def centre(box: np.ndarray) -> np.ndarray:
    return np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2])


def test_constant_velocity_prediction_between_detections():
    tracker = Tracker(smoothing=0.0)
    for i in range(5):
        tracks = tracker.update([face(100 + 5 * i, 200 - 2 * i)])
        assert tracks[0].detected
    for i in range(5, 9):
        (track,) = tracker.update(None)
        assert not track.detected and track.track_id == 0 and track.age == i
        np.testing.assert_allclose(centre(track.box), [100 + 5 * i, 200 - 2 * i], atol=1e-3)
        np.testing.assert_allclose(track.landmarks, face(100 + 5 * i, 200 - 2 * i).landmarks, atol=1e-3)


def test_prediction_follows_scale_change():
    tracker = Tracker(smoothing=0.0)
    for i in range(4):
        tracker.update([face(300, 300, size=100 + 10 * i)])
    (track,) = tracker.update(None)
    np.testing.assert_allclose(track.box[2] - track.box[0], 140, atol=1e-3)
    np.testing.assert_allclose(track.landmarks, face(300, 300, size=140).landmarks, atol=1e-3)


def test_gap_is_bridged_with_the_same_id():
    tracker = Tracker(max_gap=5)
    for i in range(5):
        tracker.update([face(100 + 4 * i, 100)])
    for i in range(5, 10):  # detector ran and missed the face for 5 frames
        (track,) = tracker.update([])
        assert not track.detected and track.track_id == 0
        assert abs(centre(track.box)[0] - (100 + 4 * i)) < 4
    (track,) = tracker.update([face(140, 100)])
    assert track.detected and track.track_id == 0


def test_track_ends_after_max_gap_and_a_new_face_gets_a_new_id():
    tracker = Tracker(max_gap=3)
    tracker.update([face(100, 100)])
    for _ in range(3):
        assert len(tracker.update([])) == 1
    assert tracker.update([]) == []
    (track,) = tracker.update([face(100, 100)])
    assert track.track_id == 1 and track.age == 0


def test_frames_without_detection_never_end_a_track():
    tracker = Tracker(max_gap=2)
    tracker.update([face(100, 100)])
    for _ in range(6):
        assert len(tracker.update(None)) == 1
    assert tracker.update([face(100, 100)])[0].track_id == 0


def test_two_faces_keep_their_ids_while_moving():
    tracker = Tracker()
    for i in range(20):
        dets = [face(100 + 6 * i, 100), face(500 - 6 * i, 300)]
        tracks = tracker.update(dets[::-1] if i % 2 else dets)
        by_id = {t.track_id: centre(t.box)[1] for t in tracks}
        assert by_id.keys() == {0, 1}
        assert by_id[0] < 200 < by_id[1]


def test_min_hits_hides_one_off_detections():
    tracker = Tracker(min_hits=3)
    assert tracker.update([face(100, 100), face(400, 100)]) == []
    assert tracker.update([face(100, 100)]) == []
    tracks = tracker.update([face(100, 100)])
    assert [t.track_id for t in tracks] == [0]
    assert tracker.update([face(100, 100), face(400, 100)])[0].track_id == 0


def test_smoothing_reduces_jitter_and_lags_little():
    rng = np.random.default_rng(0)
    noise = rng.normal(0.0, 2.0, size=(150, 2))
    raw, smooth = Tracker(smoothing=0.0), Tracker()
    raw_x, smooth_x = [], []
    for n in noise:
        det = [face(300 + n[0], 200 + n[1])]
        raw_x.append(raw.update(det)[0].box[0])
        smooth_x.append(smooth.update(det)[0].box[0])
    assert np.var(smooth_x[20:]) < 0.6 * np.var(raw_x[20:])
    tracker = Tracker()
    for i in range(40):  # 5 px/frame on a 100 px face
        (track,) = tracker.update([face(300 + 5 * i, 200)])
    assert abs(track.box[0] - (250 + 5 * 39)) < 2.5
    np.testing.assert_allclose(track.landmarks[:, 0] - track.box[0], OFFSETS[:, 0] + 50, atol=1e-3)


def test_late_detections_correct_the_tracks_as_detections_on_time_would():
    """A detector beside the frames: frame 6's detections arrive at frame 8; the track is then predicted from them."""
    def x(i: int) -> float:
        return 100 + 5 * min(i, 4)  # moves, then stops at frame 4

    on_time, late = Tracker(smoothing=0.0), Tracker(smoothing=0.0)
    for i in range(9):
        expected = on_time.update([face(x(i), 200)] if i % 3 == 0 else None)
        if i == 8:
            late.late([face(x(6), 200)], 6)
        got = late.update([face(x(i), 200)] if i in (0, 3) else None)
        assert [t.track_id for t in got] == [t.track_id for t in expected] == [0]
        if i not in (6, 7):  # (on frames 6 and 7 the late tracker does not have frame 6's detection yet)
            np.testing.assert_allclose(centre(got[0].box), centre(expected[0].box), atol=1e-3)
    assert not got[0].detected and got[0].age == 8  # predicted at frame 8 from the detection of frame 6
    assert centre(got[0].box)[0] < 100 + 5 * 8 - 4  # (without it: carried on at 5 px a frame)
    # a face first seen by a late detection starts its track at the frame the detector saw, reported from now
    late.update(None)
    late.late([face(x(9), 200), face(600, 400)], 9)
    tracks = late.update(None)
    assert [(t.track_id, t.age) for t in tracks] == [(0, 10), (1, 1)]
    with pytest.raises(ValueError):
        late.late([], 11)  # not a frame updated yet


def test_iou_and_greedy_match():
    a = np.array([[0, 0, 10, 10], [20, 20, 30, 30]], np.float64)
    b = np.array([[20, 20, 30, 30], [0, 0, 10, 5], [100, 100, 110, 110]], np.float64)
    iou = iou_matrix(a, b)
    np.testing.assert_allclose(iou, [[0, 0.5, 0], [1, 0, 0]])
    assert sorted(greedy_match(iou, 0.3)) == [(0, 1), (1, 0)]
    assert greedy_match(iou, 0.6) == [(1, 0)]
    with pytest.raises(ValueError):
        Tracker(smoothing=1.0)


def test_one_id_through_the_single_face_clip(single_face_detections):
    tracker = Tracker()
    ids = set()
    for dets in single_face_detections:
        tracks = tracker.update(dets)
        assert len(tracks) == 1
        ids.add(tracks[0].track_id)
    assert ids == {0}


def test_one_id_through_the_generated_clip_detecting_every_third_frame(synthetic_detections):
    tracker = Tracker()
    ids, detected = set(), 0
    for i, dets in enumerate(synthetic_detections):
        tracks = tracker.update(dets if i % 3 == 0 else None)
        assert len(tracks) == 1
        ids.add(tracks[0].track_id)
        detected += tracks[0].detected
        if i % 3:
            assert not tracks[0].detected
    assert ids == {0} and detected >= 0.9 * len(synthetic_detections) / 3


def test_crowd_clip_yields_many_tracks(yunet, crowd_frames):
    tracker = Tracker()
    seen = set()
    for frame in crowd_frames:
        tracks = tracker.update(yunet.detect(frame))
        ids = [t.track_id for t in tracks]
        assert len(ids) == len(set(ids))
        seen.update(ids)
        assert all(t.box.dtype == np.float32 and t.landmarks.shape == (5, 2) for t in tracks)
    assert len(seen) >= 5
    assert len(tracks) >= 5  # tracks persist, not re-created every frame
    assert len(seen) < 3 * len(tracks)
