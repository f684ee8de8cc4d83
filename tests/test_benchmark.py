"""A small-size smoke run of the benchmark script, so it does not rot. No timing is asserted here: the
figures are the benchmark's output, not a test's."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import DISTRICT, PERIOD, ROOT
from tonghop.synth import SampleOptions, generate_sample


def test_benchmark_script_runs_end_to_end_on_a_small_period(tmp_path, hierarchy, period):
    inbox = tmp_path / "inbox"
    generate_sample(hierarchy.reporting_units(DISTRICT), period, hierarchy, inbox,
                    SampleOptions(seed=7, error_rate=0.1))
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "benchmark.py"), "--national", str(inbox),
                           "--sizes", "province,national", "--sample", "2", "--cache", str(tmp_path / "cache"),
                           "--out", str(tmp_path / "out")], capture_output=True, text=True, check=False,
                          env=os.environ)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "speedup" in done.stdout and "province totals of the national run equal" in done.stdout
    (result_file,) = (tmp_path / "out").glob("benchmark-*.json")
    doc = json.loads(result_file.read_text(encoding="utf-8"))
    assert doc["period"] == PERIOD and doc["naive_seconds_per_report"] > 0
    by_size = {(r["size"], r["backend"]): r for r in doc["results"]}
    assert ("national", "sqlite") in by_size and ("province", "sqlite") in by_size
    for row in doc["results"]:
        assert {"reports", "seconds", "peak_rss_mb", "speedup_vs_naive"} <= set(row)
        assert row["seconds"] > 0 and row["peak_rss_mb"] > 0 and row["speedup_vs_naive"] > 0
    assert by_size[("national", "sqlite")]["province_totals_checked"] == 1
    national = by_size[("national", "sqlite")]  # the fastest of two runs (--best-of 2, the default)
    assert len(national["runs_seconds"]) == 2 and national["seconds"] == min(national["runs_seconds"])
    floor = doc["floor"]  # the floor is measured in the same run, on the same files
    assert floor["files"] == by_size[("national", "sqlite")]["reports"]
    assert floor["read"] > 0 and floor["validate"] > 0
    assert floor["total"] == pytest.approx(floor["read"] + floor["validate"])
    assert floor["validate_two_processes"] > 0  # context: the validation as a run does it, not in the total
    assert by_size[("national", "sqlite")]["ratio_to_floor"] > 0 and "× the floor" in done.stdout
