"""Controller-fed reader: ordering, heartbeats, lost messages, timeout, feed files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edge.config import SignalConfig
from edge.signal import (
    ControllerFeedReader,
    PhaseChange,
    PhaseFeedError,
    SignalState,
    create_signal_reader,
    load_phase_feed,
)

R, G, D, U = SignalState.RED, SignalState.GREEN, SignalState.DARK, SignalState.UNKNOWN


def _reader(timeout: float = 5.0, **kw: float) -> ControllerFeedReader:
    return ControllerFeedReader(timeout_s=timeout, **kw)


def test_factory_builds_a_controller_reader_with_the_configured_timeout():
    reader = create_signal_reader(SignalConfig(source="controller", controller_timeout_s=2.0))
    assert isinstance(reader, ControllerFeedReader)
    reader.push({"t": 10.0, "phase": "red"})
    assert reader.update(None, 12.0).state is R
    assert reader.update(None, 12.5).state is U


def test_state_at_t_with_since_the_change_time():
    r = _reader()
    r.extend([{"t": 10, "phase": "green"}, {"t": 14, "phase": "red"}, {"t": 16, "phase": "dark"}])
    assert r.update(None, 9.9).state is U and r.update(None, 9.9).since is None
    assert (r.update(None, 13.0).state, r.update(None, 13.0).since) == (G, 10.0)
    reading = r.update(None, 15.5)
    assert (reading.state, reading.since, reading.red_for()) == (R, 14.0, 1.5)
    assert (r.update(None, 16.0).state, r.update(None, 16.0).since) == (D, 16.0)


def test_messages_arriving_out_of_order_are_applied_in_time_order():
    in_order = _reader()
    shuffled = _reader()
    msgs = [
        {"t": 10, "phase": "green", "seq": 1},
        {"t": 14, "phase": "red", "seq": 2},
        {"t": 15, "phase": "red", "seq": 3},
        {"t": 20, "phase": "green", "seq": 4},
    ]
    in_order.extend(msgs)
    shuffled.extend([msgs[2], msgs[0], msgs[3], msgs[1]])
    for t in [9, 10, 12, 14, 14.5, 16, 19.9, 20, 21]:
        assert shuffled.update(None, t) == in_order.update(None, t), t
    assert shuffled.update(None, 16).since == 14  # the late seq 2 moved the run start back


def test_equal_times_are_ordered_by_sequence_number():
    r = _reader()
    r.push({"t": 10, "phase": "red", "seq": 8})
    r.push({"t": 10, "phase": "green", "seq": 7})
    assert r.update(None, 10.5).state is R


def test_heartbeats_extend_the_run_and_duplicates_are_ignored():
    r = _reader(timeout=2.0)
    assert r.push({"t": 10, "phase": "green"})
    for t in [11, 12, 13]:
        assert r.push({"t": t, "phase": "red"})
    assert not r.push({"t": 12, "phase": "red"})  # redelivered, no seq
    assert r.push({"t": 14, "phase": "red", "seq": 5})
    assert not r.push({"t": 14, "phase": "red", "seq": 5})  # redelivered, same seq
    reading = r.update(None, 15.0)
    assert (reading.state, reading.since) == (R, 11.0)


def test_a_gap_in_sequence_numbers_restarts_the_run():
    """seq 3 is missing: a green between 1 and 4 may have been lost, so red counts from 4."""
    r = _reader()
    r.extend(
        [
            {"t": 10, "phase": "red", "seq": 1},
            {"t": 11, "phase": "red", "seq": 2},
            {"t": 13, "phase": "red", "seq": 4},
        ]
    )
    assert r.update(None, 12.0).since == 10.0
    assert r.update(None, 13.5).since == 13.0
    r.push({"t": 12, "phase": "red", "seq": 3})  # it turns up: the run is whole again
    assert r.update(None, 13.6).since == 10.0


def test_silent_feed_reads_unknown_after_the_timeout():
    r = _reader(timeout=5.0)
    r.extend([{"t": 10, "phase": "red"}, {"t": 12, "phase": "red"}])
    assert r.update(None, 17.0).state is R
    late = r.update(None, 17.01)
    assert late.state is U and late.since == 17.0 and late.red_for() is None
    r.push({"t": 30, "phase": "red"})  # back after silence: a change may have been missed
    back = r.update(None, 31.0)
    assert (back.state, back.since) == (R, 30.0)


def test_old_messages_are_forgotten_and_too_late_ones_dropped():
    r = _reader(timeout=5.0, retain_s=60.0)
    for k in range(300):
        r.push({"t": float(k), "phase": "red" if (k // 30) % 2 else "green", "seq": k})
    reading = r.update(None, 299.5)
    assert (reading.state, reading.since) == (R, 270.0)
    assert len(r._msgs) <= 62
    assert not r.push({"t": 100.0, "phase": "dark", "seq": 1000})
    assert r.dropped_late == 1


def test_phase_change_accepts_timestamp_alias_and_iso_times():
    a = PhaseChange.model_validate({"timestamp": 12.5, "phase": "dark"})
    assert a.t == 12.5 and a.state is D
    b = PhaseChange.model_validate({"t": "1970-01-01T00:01:00Z", "phase": "red"})
    assert b.t == 60.0
    with pytest.raises(ValueError, match="UTC offset"):
        PhaseChange.model_validate({"t": "1970-01-01T00:01:00", "phase": "red"})
    with pytest.raises(ValueError, match="not both"):
        PhaseChange.model_validate({"t": 1, "timestamp": 1, "phase": "red"})
    with pytest.raises(PhaseFeedError, match="phase"):
        _reader().push({"t": 1, "phase": "amber"})


def _write(tmp_path: Path, lines: list[str]) -> Path:
    p = tmp_path / "phases.jsonl"
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return p


def test_load_phase_feed_reads_a_log_that_drives_the_reader(tmp_path):
    p = _write(
        tmp_path,
        [
            json.dumps({"t": 100.0, "phase": "green", "seq": 1}),
            "",
            json.dumps({"timestamp": 130.0, "phase": "red", "seq": 2}),
            json.dumps({"t": 131.0, "phase": "red", "seq": 3}),
        ],
    )
    msgs = load_phase_feed(p)
    assert [m.seq for m in msgs] == [1, 2, 3]
    r = create_signal_reader(SignalConfig(source="controller", controller_timeout_s=40.0))
    r.extend(msgs)  # type: ignore[union-attr]
    reading = r.update(None, 135.0)
    assert (reading.state, reading.since) == (R, 130.0)


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        (
            ['{"t": 1, "phase": "red"}', '{"t": 2, "phase": red}'],
            r"phases\.jsonl:2: not valid JSON",
        ),
        (['{"t": 1, "phase": "amber"}'], r"phases\.jsonl:1: phase: "),
        (['{"phase": "red"}'], r"phases\.jsonl:1: t: Field required"),
        (['{"t": 1, "phase": "red", "colour": "x"}'], r"phases\.jsonl:1: colour: "),
        (["[1, 2]"], r"phases\.jsonl:1: expected a JSON object, got list"),
        (['{"t": "soon", "phase": "red"}'], r"phases\.jsonl:1: t: expected seconds or an ISO"),
        (['{"t": 1, "phase": "red", "seq": -1}'], r"phases\.jsonl:1: seq: "),
        (
            ['{"t": 1, "phase": "red", "seq": 4}', '{"t": 2, "phase": "green", "seq": 4}'],
            r"phases\.jsonl:2: seq 4 already used on line 1",
        ),
        (["", "  "], r"phases\.jsonl: no phase messages"),
    ],
)
def test_bad_feed_files_name_file_and_line(tmp_path, lines, expected):
    with pytest.raises(PhaseFeedError, match=expected):
        load_phase_feed(_write(tmp_path, lines))


def test_missing_and_binary_feed_files(tmp_path):
    with pytest.raises(PhaseFeedError, match=r"nope\.jsonl: file not found"):
        load_phase_feed(tmp_path / "nope.jsonl")
    p = tmp_path / "bin.jsonl"
    p.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(PhaseFeedError, match=r"bin\.jsonl: not a UTF-8 text file"):
        load_phase_feed(p)
