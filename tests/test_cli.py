"""The installed `tonghop` command, run as a user would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from openpyxl import load_workbook

from tests import expected as exp
from tests.conftest import DISTRICT, PERIOD
from tonghop.spec import load_spec
from tonghop.synth import manifest_path

TONGHOP = str(Path(sys.executable).with_name("tonghop"))


def tonghop(*args: str, home: Path, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "TONGHOP_HOME": str(home)}
    done = subprocess.run([TONGHOP, *args], check=False, capture_output=True, text=True, env=env)
    if check:
        assert done.returncode == 0, done.stderr[-3000:]
    return done


def test_fields_lists_the_spec(tmp_path):
    fields = json.loads(tonghop("fields", "--format", "json", home=tmp_path).stdout)
    by_key = {f["key"]: f for f in fields}
    assert by_key["poor_end"] == {**by_key["poor_end"], "sheet": "B. Hộ nghèo", "cell": "D11", "type": "count",
                                  "unit": "hộ", "required": True, "min": 0}
    assert by_key["p1_alloc_central"]["unit"] == "triệu đồng"
    assert set(by_key) == {f.key for f in load_spec().fields}
    table = tonghop("fields", home=tmp_path).stdout
    assert "Tổng số hộ dân cư" in table and "D5" in table


def test_template_writes_one_workbook_per_commune(tmp_path):
    out = tmp_path / "templates"
    tonghop("template", "--period", PERIOD, "--unit", DISTRICT, "--out", str(out), home=tmp_path)
    files = sorted(out.glob("*.xlsx"))
    assert len(files) == 22
    wb = load_workbook(files[0])
    assert wb["A. Thông tin chung"]["C6"].value == PERIOD
    assert wb["A. Thông tin chung"]["C10"].value == DISTRICT


def test_fill_and_check(tmp_path):
    values = {"total_households": 1200, "poor_start": 100, "poor_exited": 20, "poor_returned": 2, "poor_new": 8,
              "poor_end": 90, "p2_alloc_central": 466.25, "p2_applicable": "Có"}
    (tmp_path / "values.json").write_text(json.dumps(values), encoding="utf-8")
    out = tmp_path / "filled.xlsx"
    tonghop("fill", "--period", PERIOD, "--unit", "29110", "--values", str(tmp_path / "values.json"),
            "--out", str(out), home=tmp_path)
    done = tonghop("check", str(out), home=tmp_path, check=False)
    assert done.returncode == 1
    assert "BỊ TỪ CHỐI" in done.stdout and "TH-F-001" in done.stdout  # most required cells are still blank
    assert "[B. Hộ nghèo!E7]" in done.stdout

    (tmp_path / "wrong.json").write_text(json.dumps({"commune_code": "29111"}), encoding="utf-8")
    refused = tonghop("fill", "--period", PERIOD, "--unit", "29110", "--values", str(tmp_path / "wrong.json"),
                      "--out", str(out), home=tmp_path, check=False)
    assert refused.returncode == 2 and "pre-filled" in refused.stderr


def test_check_exit_codes_name_the_cell(tmp_path):
    inbox = tmp_path / "inbox"
    tonghop("sample", "--period", PERIOD, "--unit", "29110", "--out", str(inbox), home=tmp_path)
    clean = next(inbox.rglob("*.xlsx"))
    done = tonghop("check", str(clean), home=tmp_path)
    assert "HỢP LỆ" in done.stdout and "0 lỗi" in done.stdout

    tonghop("sample", "--period", PERIOD, "--unit", "29110", "--out", str(tmp_path / "bad"), "--error-rate", "1",
            "--kinds", "subset_exceeds", home=tmp_path)
    mistake = exp.load(manifest_path(tmp_path / "bad", PERIOD))["reports"][0]["mistakes"][0]
    cell = load_spec().by_key[mistake["field"]].cell
    done = tonghop("check", str(next((tmp_path / "bad").rglob("*.xlsx"))), home=tmp_path, check=False)
    assert done.returncode == 1
    assert "TH-B-004" in done.stdout and f"B. Hộ nghèo!D11, {cell}" in done.stdout
    assert tonghop("check", str(tmp_path / "nope.xlsx"), home=tmp_path, check=False).returncode == 2


def test_sample_run_report_round_trip(tmp_path, period):
    home = tmp_path / "home"
    inbox = home / "inbox"
    tonghop("sample", "--period", PERIOD, "--unit", DISTRICT, "--out", str(inbox), "--error-rate", "0.3",
            "--missing-rate", "0.1", "--seed", "4", home=home)
    run = tonghop("run", "--period", PERIOD, "--inbox", str(inbox), home=home)
    assert "rejected" in run.stdout
    doc = json.loads(tonghop("report", "--period", PERIOD, "--unit", DISTRICT, "--format", "json", home=home).stdout)
    manifest = exp.load(manifest_path(inbox, PERIOD))
    want = exp.expected_sums(manifest, DISTRICT, "district")
    for key in ("total_households", "poor_end", "near_poor_end", "poor_start"):
        assert doc["measures"][key] == want[key]
    assert Decimal(str(doc["measures"]["p2_alloc_central"])) == want["p2_alloc_central"]
    assert doc["measures"]["poor_rate"] == pytest.approx(want["poor_end"] / want["total_households"] * 100)
    want_c = exp.expected_completeness(manifest, DISTRICT, "district", period.commune_deadline)
    assert {k: doc["completeness"][k] for k in ("expected", "received", "accepted", "on_time")} == {
        k: want_c[k] for k in ("expected", "received", "accepted", "on_time")}
    assert len(doc["rejected"]) == want_c["rejected"] > 0
    assert set(doc["areas"]) == {"urban", "rural"}
    table = tonghop("report", "--period", PERIOD, "--unit", DISTRICT, home=home).stdout
    assert "TỔNG CỘNG Huyện Ba Tri" in table and "Báo cáo bị từ chối" in table
    assert f"{want['total_households']:,}".replace(",", ".") in table  # Vietnamese thousands separator
