"""`make demo` as the README gives it: today's map (2026-FY, Tỉnh Vĩnh Long, communes straight under the
province) and the one-line pre-reform variant (2024-FY, Tỉnh Bến Tre, through its districts). Each runs the
real DAG with `airflow dags test`; the printed table is checked against the map each period must use."""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.conftest import ROOT


def _demo(tmp_path, period: str, unit: str) -> str:
    home = tmp_path / f"demo-{period}"
    done = subprocess.run(["make", "--no-print-directory", "demo", f"DEMO_PERIOD={period}", f"DEMO_UNIT={unit}",
                           f"DEMO_HOME={home}"], cwd=ROOT, env=os.environ, capture_output=True, text=True,
                          timeout=1800, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert (home / f"tong-hop-{unit}.xlsx").is_file() and (home / "charts" / "completeness.png").is_file()
    return done.stdout


@pytest.mark.usefixtures("airflow_db")
def test_make_demo_runs_today_on_the_two_level_map(tmp_path):
    out = _demo(tmp_path, "2026-FY", "86")
    assert "Tỉnh Vĩnh Long (86) — kỳ báo cáo 2026-FY" in out
    assert "TỔNG CỘNG Tỉnh Vĩnh Long" in out and "  124  " in out.split("TỔNG CỘNG Tỉnh Vĩnh Long")[1][:40]
    assert "Khu vực thành thị" in out and "Khu vực nông thôn" in out
    assert "Huyện" not in out and "Lao động - Thương binh" not in out


@pytest.mark.usefixtures("airflow_db")
def test_make_demo_runs_a_pre_reform_period_through_districts(tmp_path):
    out = _demo(tmp_path, "2024-FY", "83")
    assert "Tỉnh Bến Tre (83) — kỳ báo cáo 2024-FY" in out
    assert "Huyện Ba Tri" in out and "TỔNG CỘNG Tỉnh Bến Tre" in out
    assert "  148  " in out.split("TỔNG CỘNG Tỉnh Bến Tre")[1][:40]
