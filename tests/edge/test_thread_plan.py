"""The gateway's one thread plan: auto values, and settings refused with the key named."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from edge.config import ConfigError
from edge.gateway_config import DetectorPoolConfig, load_gateway_config
from edge.thread_plan import ThreadPlanError, available_cores, plan_threads
from tests.edge.test_gateway_config import _base, _write, gw_dir  # noqa: F401 (fixture)


def test_auto_plan_on_a_2_core_gateway_uses_each_core_once() -> None:
    plan = plan_threads(DetectorPoolConfig(), cores=2, cameras=8)
    assert (plan.workers, plan.intra_op_threads, plan.inter_op_threads) == (2, 1, 1)
    assert plan.opencv_threads == 1 and plan.max_batch == 8
    line = plan.describe()
    assert "2 core(s), 8 camera(s)" in line and "2 worker(s) × 1 intra-op" in line


def test_auto_plan_on_a_larger_machine_and_explicit_values() -> None:
    plan = plan_threads(DetectorPoolConfig(), cores=8, cameras=8)
    assert plan.workers * plan.intra_op_threads == 8
    one = plan_threads(DetectorPoolConfig(workers=1, intra_op_threads=2), cores=2, cameras=1)
    assert (one.workers, one.intra_op_threads, one.opencv_threads) == (1, 2, 2)


@pytest.mark.parametrize(
    ("cfg", "message"),
    [
        (
            {"intra_op_threads": 16},
            r"detector_pool.intra_op_threads: 2 worker\(s\) × 16 intra-op thread\(s\) = 32 "
            r"inference threads on 2 core\(s\); expected at most 8",
        ),
        ({"workers": 12}, r"detector_pool.workers: 12 worker\(s\) × 1 .* expected at most 8"),
        ({"workers": 6}, r"detector_pool.workers: 6 workers for 3 camera\(s\); expected at most 3"),
    ],
)
def test_impossible_plans_name_the_key(cfg: dict, message: str) -> None:
    with pytest.raises(ThreadPlanError, match=message):
        plan_threads(DetectorPoolConfig(**cfg), cores=2, cameras=3)


@pytest.mark.parametrize(
    ("pool", "message"),
    [
        (
            {"workers": 0},
            "edge.yaml: detector_pool.workers: expected 'auto' or a whole number from 1 to 64, "
            "got 0",
        ),
        ({"intra_op_threads": "lots"}, "detector_pool.intra_op_threads: expected 'auto' or"),
        ({"max_batch": 0}, "edge.yaml: detector_pool.max_batch: Input should be greater"),
        ({"thread": 2}, "edge.yaml: detector_pool.thread: Extra inputs are not permitted"),
        (
            {"workers": 64, "intra_op_threads": 64},
            r"edge.yaml: detector_pool.intra_op_threads: 64 worker\(s\) × 64 intra-op",
        ),
    ],
)
def test_gateway_config_names_the_file_and_the_pool_key(
    gw_dir: Path,  # noqa: F811
    pool: dict,
    message: str,
) -> None:
    with pytest.raises(ConfigError, match=message):
        load_gateway_config(_write(gw_dir, {**_base(), "detector_pool": pool}))


def test_a_valid_pool_section_loads(gw_dir: Path) -> None:  # noqa: F811
    cfg = load_gateway_config(
        _write(gw_dir, {**_base(), "detector_pool": {"workers": 1, "max_batch": 4}})
    )
    plan = plan_threads(cfg.detector_pool, available_cores(), 1)
    assert plan.workers == 1 and plan.max_batch == 4
    assert yaml.safe_load((gw_dir / "edge.yaml").read_text())["detector_pool"]["workers"] == 1
