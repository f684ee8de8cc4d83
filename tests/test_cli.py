"""The `tonghop` command, run as a user would: in this process through `tonghop.cli.main` (the `tonghop`
fixture of conftest.py), and once as the installed console script."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook

from tests import expected as exp
from tests.conftest import DISTRICT, PERIOD
from tonghop.spec import load_spec
from tonghop.synth import manifest_path

TONGHOP = str(Path(sys.executable).with_name("tonghop"))


def test_the_installed_command_checks_workbooks(tonghop, tmp_path):
    """The console script itself, in a process of its own: entry point, imports, output and exit code."""
    tonghop("sample", "--period", PERIOD, "--unit", "29110", "--out", str(tmp_path / "good"), home=tmp_path)
    tonghop("sample", "--period", PERIOD, "--unit", "29110", "--out", str(tmp_path / "bad"), "--error-rate", "1",
            "--kinds", "subset_exceeds", home=tmp_path)
    clean, wrong = (next((tmp_path / name).rglob("*.xlsx")) for name in ("good", "bad"))
    done = subprocess.run([TONGHOP, "check", str(clean), str(wrong)], check=False, capture_output=True, text=True,
                          env={**os.environ, "TONGHOP_HOME": str(tmp_path)})
    assert done.returncode == 1, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert lines[0] == f"{clean}: HỢP LỆ — 0 lỗi, 0 cảnh báo"
    assert lines[1].startswith(f"{wrong}: BỊ TỪ CHỐI — 1 lỗi") and "TH-B-004" in lines[2]
    assert "Traceback" not in done.stderr


def test_fields_lists_the_spec(tonghop, tmp_path):
    fields = json.loads(tonghop("fields", "--format", "json", home=tmp_path).stdout)
    by_key = {f["key"]: f for f in fields}
    assert by_key["poor_end"] == {**by_key["poor_end"], "sheet": "B. Hộ nghèo", "cell": "D11", "type": "count",
                                  "unit": "hộ", "required": True, "min": 0}
    assert by_key["p1_alloc_central"]["unit"] == "triệu đồng"
    assert set(by_key) == {f.key for f in load_spec().fields}
    table = tonghop("fields", home=tmp_path).stdout
    assert "Tổng số hộ dân cư" in table and "D5" in table


def test_template_writes_one_workbook_per_commune(tonghop, tmp_path):
    out = tmp_path / "templates"
    tonghop("template", "--period", PERIOD, "--unit", DISTRICT, "--out", str(out), home=tmp_path)
    files = sorted(out.glob("*.xlsx"))
    assert len(files) == 22
    wb = load_workbook(files[0])
    assert wb["A. Thông tin chung"]["C6"].value == PERIOD
    assert wb["A. Thông tin chung"]["C10"].value == DISTRICT


def test_fill_and_check(tonghop, tmp_path):
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


def test_check_exit_codes_name_the_cell(tonghop, tmp_path):
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


def test_sample_run_report_round_trip(tonghop, tmp_path, period):
    home = tmp_path / "home"
    inbox = home / "inbox"
    tonghop("sample", "--period", PERIOD, "--unit", DISTRICT, "--out", str(inbox), "--error-rate", "0.3",
            "--missing-rate", "0.1", "--seed", "4", home=home)
    run = tonghop("run", "--period", PERIOD, "--inbox", str(inbox), home=home)
    assert "rejected" in run.stdout
    # No scope given: the run says it rolled up the whole country, and which unit the files point to.
    assert "Scope: the whole country (no TONGHOP_SCOPE or --scope)" in run.stdout
    assert f"Every file received is from Huyện Ba Tri ({DISTRICT}): to consolidate it alone, run with --scope " \
           f"{DISTRICT}" in run.stdout
    scoped = tonghop("run", "--period", PERIOD, "--inbox", str(inbox), "--scope", DISTRICT, home=home)
    assert f"Scope: Huyện Ba Tri ({DISTRICT};" in scoped.stdout and "whole country" not in scoped.stdout
    doc = json.loads(tonghop("report", "--period", PERIOD, "--unit", DISTRICT, "--format", "json", home=home).stdout)
    manifest = exp.load(manifest_path(inbox, PERIOD))
    want = exp.expected_sums(manifest, DISTRICT, "district")
    for key in ("total_households", "poor_end", "near_poor_end", "poor_start"):
        assert doc["measures"][key] == want[key]
    assert Decimal(str(doc["measures"]["p2_alloc_central"])) == want["p2_alloc_central"]
    assert doc["measures"]["poor_rate"] == pytest.approx(want["poor_end"] / want["total_households"] * 100)
    want_c = exp.expected_completeness(manifest, DISTRICT, "district", period.commune_deadline)
    assert f"{want_c['accepted']}/{want_c['expected']} communes in the roll-up" in scoped.stdout
    assert {k: doc["completeness"][k] for k in ("expected", "received", "accepted", "on_time")} == {
        k: want_c[k] for k in ("expected", "received", "accepted", "on_time")}
    assert len(doc["rejected"]) == want_c["rejected"] > 0
    assert set(doc["areas"]) == {"urban", "rural"}
    table = tonghop("report", "--period", PERIOD, "--unit", DISTRICT, home=home).stdout
    assert "TỔNG CỘNG Huyện Ba Tri" in table and "Báo cáo bị từ chối" in table
    assert f"{want['total_households']:,}".replace(",", ".") in table  # Vietnamese thousands separator


def test_check_json_and_annotated_copy(tonghop, tmp_path):
    """Errors are marked red and warnings yellow in the commune's own workbook, each with a comment, and a
    first sheet lists every finding."""
    tonghop("sample", "--period", PERIOD, "--unit", "29110", "--out", str(tmp_path / "in"), "--error-rate", "1",
            "--kinds", "balance_mismatch", home=tmp_path)
    workbook = next((tmp_path / "in").rglob("*.xlsx"))
    wb = load_workbook(workbook)
    wb["A. Thông tin chung"]["C17"] = "khong-co-a-còng"  # a malformed e-mail: a warning on top of the error
    wb.save(workbook)
    done = tonghop("check", str(workbook), "--format", "json", "--annotate", str(tmp_path / "out"), home=tmp_path,
                   check=False)
    assert done.returncode == 1
    (result,) = json.loads(done.stdout)
    assert result["outcome"] == "rejected" and (result["errors"], result["warnings"]) == (1, 1)
    by_check = {f["check_id"]: f for f in result["findings"]}
    assert set(by_check) == {"TH-B-002", "TH-F-010"} or set(by_check) == {"TH-B-003", "TH-F-010"}
    balance = by_check.get("TH-B-002") or by_check["TH-B-003"]
    assert balance["sheet"] == "B. Hộ nghèo" and balance["severity"] == "error" and balance["expected"]
    assert balance["file_name"] == workbook.name and balance["commune_code"] == "29110"

    annotated = load_workbook(result["annotated"])
    assert annotated.sheetnames[0] == "Kết quả kiểm tra"
    listing = [[c for c in row] for row in annotated["Kết quả kiểm tra"].iter_rows(min_row=6, values_only=True)]
    assert sorted(row[2] for row in listing if row[0]) == sorted(by_check)
    sheet_b = annotated["B. Hộ nghèo"]
    for cell in balance["cell"].split(", "):
        assert sheet_b[cell].fill.fgColor.rgb.endswith("FFC7CE"), cell  # red: error
        assert balance["check_id"] in sheet_b[cell].comment.text
    email = annotated["A. Thông tin chung"]["C17"]
    assert email.fill.fgColor.rgb.endswith("FFEB9C") and "TH-F-010" in email.comment.text  # yellow: warning
    untouched = annotated["B. Hộ nghèo"]["D5"]
    assert untouched.comment is None and not untouched.fill.fgColor.rgb.endswith("FFC7CE")


# Warehouses a user can get wrong; the database name is one no test creates.
BROKEN_WAREHOUSES = {
    "not a URL": "tonghop.sqlite",
    "unknown dialect": "nosuchdb://host/tonghop",
    "server that does not answer": "postgresql+psycopg://postgres@127.0.0.1:9/tonghop",
    "database that does not exist": "postgresql+psycopg://postgres@127.0.0.1:5432/tonghop_no_such_database",
}


@pytest.mark.parametrize("url", BROKEN_WAREHOUSES.values(), ids=BROKEN_WAREHOUSES.keys())
@pytest.mark.parametrize("command", ["run", "report"])
def test_a_warehouse_problem_is_one_line_and_exit_2(tonghop, tmp_path, url, command):
    (tmp_path / "inbox").mkdir()
    args = {"run": ["run", "--period", PERIOD, "--no-reports"],
            "report": ["report", "--period", PERIOD, "--unit", DISTRICT]}[command]
    done = tonghop(*args, "--warehouse", url, home=tmp_path, check=False)
    assert done.returncode == 2, done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("tonghop: ") and "Traceback" not in done.stderr
    assert "warehouse" in line and "--debug" in line
    assert "password" not in line.lower()
    with pytest.raises(sa.exc.SQLAlchemyError):  # --debug lets it through, traceback and all
        tonghop("--debug", *args, "--warehouse", url, home=tmp_path, check=False)


def test_a_missing_inbox_is_an_error_not_an_empty_period(tonghop, tmp_path):
    done = tonghop("run", "--period", PERIOD, "--inbox", str(tmp_path / "no-such-folder"),
                   "--warehouse", f"sqlite:///{tmp_path / 'w.sqlite'}", home=tmp_path, check=False)
    assert done.returncode == 2
    assert done.stderr.strip() == (f"tonghop: the inbox {tmp_path / 'no-such-folder'} is not a folder: give --inbox "
                                   f"or TONGHOP_INBOX (a folder, or s3://bucket/prefix)")
    assert not (tmp_path / "w.sqlite").exists()  # nothing was published


def test_a_missing_or_broken_configuration_file_is_named(tonghop, tmp_path):
    (tmp_path / "inbox").mkdir()
    (tmp_path / "broken.yaml").write_text("timezone: Asia/Ho_Chi_Minh\nyears: {first: 2022\n", encoding="utf-8")
    warehouse = f"sqlite:///{tmp_path / 'w.sqlite'}"
    done = tonghop("run", "--period", PERIOD, "--warehouse", warehouse, home=tmp_path, check=False,
                   TONGHOP_CALENDAR=str(tmp_path / "no-such.yaml"))
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [
        f"tonghop: No such file or directory: {tmp_path / 'no-such.yaml'} (--debug shows the traceback)"]
    done = tonghop("run", "--period", PERIOD, "--warehouse", warehouse, home=tmp_path, check=False,
                   TONGHOP_CALENDAR=str(tmp_path / "broken.yaml"))
    assert done.returncode == 2, done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith(f"tonghop: {tmp_path / 'broken.yaml'}, line ") and "is not valid YAML" in line


@pytest.mark.parametrize(("args", "says"), [
    (["run", "--period", "2026-X3"], "2026-X3"),
    (["report", "--period", "2026-X3", "--unit", DISTRICT], "2026-X3"),
    (["run", "--period", PERIOD, "--scope", "99999"], "99999"),
])
def test_a_bad_period_or_scope_is_one_line_and_exit_2(tonghop, tmp_path, args, says):
    (tmp_path / "inbox").mkdir()
    done = tonghop(*args, "--warehouse", f"sqlite:///{tmp_path / 'w.sqlite'}", home=tmp_path, check=False)
    assert done.returncode == 2, done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("tonghop: ") and says in line and "Traceback" not in done.stderr
