"""The calibration page's YAML rewrite keeps what the installer wrote; hostile bodies are
refused with the field named."""

from __future__ import annotations

import pytest
import yaml

from edge.calibrate.server import _parse_geometry, _parse_roi, rewrite_camera_yaml

ORIGINAL = """\
# top comment
id: cam-1   # the id
signal:
  roi: [1, 2, 3, 4]   # head
  # about colours
  stop_colour: red
crossing:
  # drawn by hand
  zone:
  - [0, 0]
  - [10, 0]   # kerb corner
  - [10, 10]
  # how long red must have lasted
  grace_s: 0.7
extra_key: {a: 1}
"""


def test_rewrite_replaces_zone_roi_reference_and_keeps_the_rest() -> None:
    out = rewrite_camera_yaml(
        ORIGINAL, [[5, 5], [50, 5], [50, 50], [5, 50]], [7, 8, 9, 10], "r.png"
    )
    data = yaml.safe_load(out)
    assert data["crossing"]["zone"] == [[5, 5], [50, 5], [50, 50], [5, 50]]
    assert data["signal"]["roi"] == [7, 8, 9, 10]
    assert data["health"] == {"reference": "r.png"}
    assert data["extra_key"] == {"a": 1} and data["crossing"]["grace_s"] == 0.7
    for kept in (
        "# top comment",
        "id: cam-1   # the id",
        "# about colours",
        "# drawn by hand",
        "# how long red must have lasted",
        "roi: [7, 8, 9, 10]  # head",
    ):
        assert kept in out, out
    assert "kerb corner" not in out  # that comment described a point that is gone


def test_rewrite_adds_missing_sections() -> None:
    data = yaml.safe_load(rewrite_camera_yaml("id: x\n", [[1, 1], [9, 1], [9, 9]], None, "r.png"))
    assert data == {
        "id": "x",
        "crossing": {"zone": [[1, 1], [9, 1], [9, 9]]},
        "health": {"reference": "r.png"},
    }


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (None, "expected a JSON object"),
        ([1, 2], "expected a JSON object"),
        ({"zone": [[0, 0], [1, 1]]}, "zone: expected 3 to 64"),
        ({"zone": [[0, 0]] * 65}, "zone: expected 3 to 64"),
        ({"zone": [[0, 0], [1, 1], [True, 1]]}, "zone[2]"),
        ({"zone": [[0, 0], [1, 1], ["1", 1]]}, "zone[2]"),
        ({"zone": [[0, 0], [1, 1], [1e300, 1]]}, "zone[2]"),
        ({"zone": [[0, 0], [1, 1], [1, 1, 1]]}, "zone[2]"),
        ({"zone": [[0, 0], [1, 1], [2, 0]], "roi": [1, 2, 0, 4]}, "roi"),
        ({"zone": [[0, 0], [1, 1], [2, 0]], "roi": "big"}, "roi"),
    ],
)
def test_hostile_geometry_is_refused_naming_the_field(body: object, field: str) -> None:
    with pytest.raises(ValueError, match=field.replace("[", r"\[").replace("]", r"\]")):
        _parse_geometry(body)


def test_roi_needs_a_positive_box_inside_positive_coordinates() -> None:
    assert _parse_roi([1.4, 2.6, 3, 4]) == [1, 3, 3, 4]
    with pytest.raises(ValueError, match="roi"):
        _parse_roi([-1, 0, 3, 4])
