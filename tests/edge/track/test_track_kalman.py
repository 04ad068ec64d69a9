"""The batched constant-velocity Kalman filter over elapsed time."""

from __future__ import annotations

import numpy as np
import pytest

from edge.track.kalman import BoxKalman, cxcywh_to_xyxy, xyxy_to_cxcywh


def _moving_state(kf: BoxKalman) -> tuple[np.ndarray, np.ndarray]:
    mean, cov = kf.initiate(np.array([[100.0, 200.0, 40.0, 100.0], [500.0, 300.0, 60.0, 150.0]]))
    mean[:, 4:6] = [[30.0, -10.0], [-80.0, 5.0]]
    return mean, cov


def test_box_conversions_round_trip_and_clamp() -> None:
    xyxy = np.array([[10.0, 20.0, 50.0, 120.0], [5.0, 5.0, 5.0, 5.0]])
    np.testing.assert_allclose(cxcywh_to_xyxy(xyxy_to_cxcywh(xyxy)), xyxy)
    inverted = xyxy_to_cxcywh(np.array([[50.0, 120.0, 10.0, 20.0]]))
    assert inverted[0, 2:].tolist() == [0.0, 0.0]
    with pytest.raises(ValueError, match="centre/size"):
        cxcywh_to_xyxy(np.zeros((3,)))


def test_predict_moves_by_velocity_times_elapsed_time() -> None:
    kf = BoxKalman()
    mean, cov = _moving_state(kf)
    new_mean, new_cov = kf.predict(mean, cov, 0.25)
    np.testing.assert_allclose(new_mean[:, :2], mean[:, :2] + 0.25 * mean[:, 4:6])
    np.testing.assert_allclose(new_mean[:, 4:], mean[:, 4:])
    assert (np.diagonal(new_cov, axis1=1, axis2=2) > np.diagonal(cov, axis1=1, axis2=2)).all()


def test_two_half_steps_equal_one_full_step() -> None:
    """The noise model is the exact discretisation of continuous white acceleration,
    so splitting an interval (the motion gate skipping a frame) changes nothing."""
    kf = BoxKalman()
    mean, cov = _moving_state(kf)
    one = kf.predict(mean, cov, 0.4)
    half = kf.predict(*kf.predict(mean, cov, 0.2), 0.2)
    np.testing.assert_allclose(half[0], one[0], rtol=1e-12)
    np.testing.assert_allclose(half[1], one[1], rtol=1e-9)


def test_non_positive_dt_changes_nothing() -> None:
    kf = BoxKalman()
    mean, cov = _moving_state(kf)
    for dt in (0.0, -1.0):
        m, c = kf.predict(mean, cov, dt)
        np.testing.assert_array_equal(m, mean)
        np.testing.assert_array_equal(c, cov)


def test_velocity_converges_under_irregular_steps_and_noise() -> None:
    rng = np.random.default_rng(0)
    kf = BoxKalman()
    v = np.array([120.0, 15.0])
    times = np.cumsum(rng.uniform(0.03, 0.35, 60))
    truth = lambda t: np.array([100 + v[0] * t, 400 + v[1] * t, 68.0, 170.0])  # noqa: E731
    mean, cov = kf.initiate(truth(0.0)[None])
    prev = 0.0
    for t in times:
        mean, cov = kf.predict(mean, cov, t - prev)
        z = truth(t) + rng.normal(0, [4, 4, 8, 4])
        mean, cov = kf.update(mean, cov, z[None])
        prev = t
    np.testing.assert_allclose(mean[0, 4:6], v, atol=25.0)  # ~0.15 heights/s
    np.testing.assert_allclose(mean[0, :4], truth(prev), atol=10.0)


def test_update_pulls_towards_measurement_and_shrinks_uncertainty() -> None:
    kf = BoxKalman()
    mean, cov = _moving_state(kf)
    z = mean[:, :4] + [[10.0, -6.0, 2.0, 4.0], [-3.0, 8.0, 0.0, -2.0]]
    new_mean, new_cov = kf.update(mean, cov, z)
    moved, wanted = new_mean[:, :4] - mean[:, :4], z - mean[:, :4]
    assert ((moved * wanted) >= 0).all() and (np.abs(moved) <= np.abs(wanted) + 1e-9).all()
    assert (np.trace(new_cov, axis1=1, axis2=2) < np.trace(cov, axis1=1, axis2=2)).all()
    assert np.allclose(new_cov, new_cov.transpose(0, 2, 1))


def test_nll_prefers_the_confident_track_for_a_detection_on_both() -> None:
    kf = BoxKalman()
    mean, cov = kf.initiate(np.array([[300.0, 400.0, 70.0, 170.0]] * 2))
    _, cov_far = kf.predict(mean[1:], cov[1:], 1.5)  # lost for 1.5 s: very unsure
    cov = np.concatenate([cov[:1], cov_far])
    nll = kf.nll(mean, cov, np.array([[302.0, 401.0, 70.0, 170.0]]))
    assert nll[0, 0] < nll[1, 0]
    far = kf.nll(mean, cov, np.array([[420.0, 400.0, 70.0, 170.0]]))
    assert far[1, 0] < far[0, 0]  # far off: only the unsure track can explain it
    assert kf.nll(mean, cov, np.zeros((0, 4))).shape == (2, 0)


def test_degenerate_boxes_stay_finite() -> None:
    kf = BoxKalman()
    mean, cov = kf.initiate(np.array([[10.0, 10.0, 0.0, 0.0]]))
    for _ in range(5):
        mean, cov = kf.predict(mean, cov, 0.1)
        mean, cov = kf.update(mean, cov, np.array([[10.0, 10.0, 0.0, 0.0]]))
    assert np.isfinite(mean).all() and np.isfinite(cov).all()
    assert np.isfinite(kf.nll(mean, cov, np.array([[10.0, 10.0, 0.0, 0.0]]))).all()
