"""Face detectors: yunet (embedded) and scrfd (insightface .onnx) on real and generated clips."""

from __future__ import annotations

import warnings

import cv2
import numpy as np
import pytest

from streamdeblur.errors import UserError
from streamdeblur.faces.detect import Detection, create_detector
from streamdeblur.faces.scrfd import nms
from streamdeblur.faces.track import iou_matrix
from tests.faces.conftest import best


def _check_detection(det: Detection, shape: tuple[int, ...]) -> None:
    h, w = shape[:2]
    assert det.box.dtype == np.float32 and det.box.shape == (4,)
    assert det.landmarks.dtype == np.float32 and det.landmarks.shape == (5, 2)
    assert 0.0 <= det.score <= 1.0
    x1, y1, x2, y2 = det.box
    assert x2 > x1 and y2 > y1 and x2 > 0 and y2 > 0 and x1 < w and y1 < h
    # landmarks inside (or very near) the box, eyes above the mouth, left eye left of the right eye
    pad = 0.2 * (x2 - x1)
    assert np.all(det.landmarks[:, 0] > x1 - pad) and np.all(det.landmarks[:, 0] < x2 + pad)
    assert det.landmarks[0, 0] < det.landmarks[1, 0] and det.landmarks[3, 0] < det.landmarks[4, 0]
    assert det.landmarks[:2, 1].max() < det.landmarks[3:, 1].min()


def _hit_rate(detector, frames: list[np.ndarray]) -> tuple[float, list[Detection | None]]:
    found = [best(detector.detect(f)) for f in frames]
    return sum(d is not None for d in found) / len(frames), found


def test_yunet_finds_the_face_in_the_single_face_clip(single_face_detections, single_face_frames):
    found = [best(d) for d in single_face_detections]
    assert sum(d is not None for d in found) >= 0.95 * len(found)
    for det in found:
        if det is not None:
            _check_detection(det, single_face_frames[0].shape)


def test_yunet_finds_the_face_in_a_generated_blurred_clip(synthetic_detections, synthetic_frames):
    found = [best(d) for d in synthetic_detections]
    assert sum(d is not None for d in found) >= 0.95 * len(found)
    for det in found:
        if det is not None:
            _check_detection(det, synthetic_frames[0].shape)


def test_scrfd_500m_agrees_with_yunet(scrfd_500m, single_face_frames, single_face_detections):
    frames = single_face_frames[::3]
    rate, found = _hit_rate(scrfd_500m, frames)
    assert rate >= 0.95
    ious = []
    for frame, det, dets in zip(frames, found, single_face_detections[::3]):
        ref = best(dets)
        if det is not None and ref is not None:
            _check_detection(det, frame.shape)
            ious.append(iou_matrix(det.box[None], ref.box[None])[0, 0])
    assert len(ious) >= 0.9 * len(frames) and min(ious) > 0.5


def test_scrfd_2_5g_finds_the_generated_face(shared, synthetic_frames, synthetic_detections):
    detector = create_detector("scrfd", model_path=str(shared("models/insightface/scrfd_2.5g/det_2.5g.onnx")))
    for frame, dets in zip(synthetic_frames[::6], synthetic_detections[::6]):
        det, ref = best(detector.detect(frame)), best(dets)
        assert det is not None and ref is not None
        _check_detection(det, frame.shape)
        assert iou_matrix(det.box[None], ref.box[None])[0, 0] > 0.5


def test_scrfd_pack_folder_layout(shared, tmp_path, synthetic_frames):
    """A pack under <root>/models/<pack>/ is found by name; a model folder works as model_path."""
    src = shared("models/insightface/scrfd_500m/det_500m.onnx")
    pack = tmp_path / "models" / "buffalo_s"
    pack.mkdir(parents=True)
    (pack / "det_500m.onnx").symlink_to(src)
    by_pack = create_detector("scrfd", pack="buffalo_s", root=str(tmp_path))
    by_folder = create_detector("scrfd", model_path=str(src.parent))
    frame = synthetic_frames[0]
    a, b = by_pack.detect(frame), by_folder.detect(frame)
    assert len(a) == len(b) >= 1
    np.testing.assert_allclose(a[0].box, b[0].box, atol=1e-3)


def test_scrfd_missing_pack_names_the_file(tmp_path):
    with pytest.raises(UserError) as err:
        create_detector("scrfd", root=str(tmp_path))
    message = str(err.value)
    assert str(tmp_path / "models" / "buffalo_l" / "det_10g.onnx") in message
    assert "--detector-model" in message and "\n" not in message
    with pytest.raises(UserError, match="det_500m.onnx"):
        create_detector("scrfd", pack="scrfd_500m", root=str(tmp_path))


def test_scrfd_bad_model_path(tmp_path):
    with pytest.raises(UserError, match="not found"):
        create_detector("scrfd", model_path=str(tmp_path / "nope.onnx"))
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not an onnx model")
    with pytest.raises(UserError, match="cannot load"):
        create_detector("scrfd", model_path=str(junk))
    with pytest.raises(UserError, match="no det_"):
        create_detector("scrfd", model_path=str(tmp_path))


def test_unknown_detector_and_options():
    with pytest.raises(UserError, match="yunet, scrfd"):
        create_detector("haar")
    with pytest.raises(UserError, match="max_sides"):
        create_detector("yunet", max_sides=100)
    with pytest.raises(UserError, match="score threshold"):
        create_detector("yunet", score_threshold=50)
    with pytest.raises(UserError, match="built in"):
        create_detector("yunet", model_path="x.onnx")


def _einstein(shared):
    image = cv2.imread(str(shared("data/images/einstein.jpg")))
    lines = shared("data/images/einstein.pts").read_text().split("{")[1].split("}")[0].split()
    pts = np.array(lines, np.float64).reshape(68, 2)
    # iBUG 68: 36-41 and 42-47 the eyes as seen left to right, 30 nose tip, 48 and 54 mouth corners
    ref = np.stack([pts[36:42].mean(0), pts[42:48].mean(0), pts[30], pts[48], pts[54]])
    return image, ref


@pytest.mark.parametrize("name", ["yunet", "scrfd"])
def test_landmark_order_on_einstein(shared, name):
    image, ref = _einstein(shared)
    model = str(shared("models/insightface/scrfd_500m/det_500m.onnx")) if name == "scrfd" else None
    dets = create_detector(name, model_path=model).detect(image)
    centre = ref.mean(0)
    det = min(dets, key=lambda d: np.hypot(*(d.landmarks.mean(0) - centre)))
    dist = np.linalg.norm(det.landmarks[:, None, :] - ref[None, :, :], axis=2)  # detected x reference
    assert np.array_equal(dist.argmin(axis=1), np.arange(5)), dist.round(1)
    interocular = np.linalg.norm(ref[1] - ref[0])
    assert dist.diagonal().max() < 0.5 * interocular


def test_yunet_large_frame_is_downscaled_and_mapped_back(yunet, synthetic_frames):
    """A 2x upscaled frame gives 2x boxes and landmarks, without yuface's size warning."""
    frame = synthetic_frames[0]
    big = cv2.resize(frame, None, fx=3, fy=3, interpolation=cv2.INTER_CUBIC)  # 1440x1080
    small_det = best(yunet.detect(frame))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        big_det = best(create_detector("yunet", max_side=480).detect(big))
    assert small_det is not None and big_det is not None
    _check_detection(big_det, big.shape)
    assert iou_matrix(big_det.box[None] / 3, small_det.box[None])[0, 0] > 0.8
    eye_dist = np.linalg.norm(small_det.landmarks[1] - small_det.landmarks[0])
    assert np.abs((big_det.landmarks + 0.5) / 3 - 0.5 - small_det.landmarks).max() < 0.2 * eye_dist


def test_no_face_no_detection(yunet, shared):
    flat = np.full((360, 480, 3), 128, np.uint8)
    assert yunet.detect(flat) == []
    scrfd = create_detector("scrfd", model_path=str(shared("models/insightface/scrfd_500m/det_500m.onnx")))
    assert scrfd.detect(flat) == []


def test_crowd_frame_many_faces_sorted(yunet, crowd_frames):
    frame = crowd_frames[0]
    dets = yunet.detect(frame)
    assert len(dets) >= 5
    scores = [d.score for d in dets]
    assert scores == sorted(scores, reverse=True)
    for det in dets:
        _check_detection(det, frame.shape)


def test_nms_keeps_best_of_overlapping():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]], np.float32)
    scores = np.array([0.6, 0.9, 0.7], np.float32)
    assert nms(boxes, scores, 0.4).tolist() == [1, 2]


def test_yunet_gil_free_call_matches_yuface_and_lets_other_threads_run(crowd_frames, synthetic_frames):
    """libfacedetection through ctypes (the GIL released) finds exactly what yuface's own call finds, and another
    Python thread keeps running meanwhile (yuface's call held the GIL for the whole detection)."""
    import threading

    import yuface

    from streamdeblur.faces import yunet as yunet_module

    direct = yunet_module._gil_free_detect(yuface)
    if direct is None:
        pytest.skip("this yuface does not ship libfacedetection.so with facedetect_cnn: its own call is used")
    own = yunet_module._yuface_detect(yuface)
    frames = [cv2.resize(crowd_frames[0], (640, 360), interpolation=cv2.INTER_AREA), synthetic_frames[0],
              np.full((120, 160, 3), 128, np.uint8)]
    for frame in frames:
        a, b = direct(frame), own(frame)
        a = a[a[:, 0] > 0]
        assert a.shape[1] == 15 and np.array_equal(a, b)
    assert len(direct(frames[0])) >= 5

    big = cv2.resize(crowd_frames[0], (960, 540), interpolation=cv2.INTER_AREA)
    ticks, done = [0], threading.Event()

    def count() -> None:
        while not done.is_set():
            ticks[0] += 1

    def ticks_during(call) -> int:
        before = ticks[0]
        for _ in range(3):
            call(big)
        return ticks[0] - before

    thread = threading.Thread(target=count)
    thread.start()
    try:
        held, free = ticks_during(own), ticks_during(direct)
    finally:
        done.set()
        thread.join()
    # holding the GIL, the counter runs only between calls; without it, all along
    assert free > 3 * held, (free, held)
