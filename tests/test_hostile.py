"""Hostile input: a corpus of bad, odd and malicious files goes through the whole pipeline; nothing crashes,
every file ends recorded with a specific reason, and the bombs are refused fast in bounded memory."""

from __future__ import annotations

import datetime as dt
import os
import time
import tracemalloc
from pathlib import Path

import pytest
from openpyxl import load_workbook

from tests.conftest import DISTRICT, PERIOD, ROOT
from tests.hostile import Factory, corpus, xml_bomb, zip_bomb
from tonghop.findings import load_catalogue
from tonghop.inbox import LocalInbox
from tonghop.ledger import check_invariant
from tonghop.parse import StructureError, read_report
from tonghop.pipeline import run_period
from tonghop.safety import safe_name
from tonghop.spec import load_spec
from tonghop.warehouse import Warehouse


def test_the_hostile_corpus_ends_recorded_with_reasons(settings, hierarchy, period, tmp_path):
    communes = [u.code for u in hierarchy.reporting_units("83")]
    far = next(u.code for u in hierarchy.reporting_units("01"))
    cases = corpus(Factory(hierarchy, period), communes, far)
    assert len({c.kind for c in cases}) >= 40
    inbox = settings.inbox_dir
    when = period.commune_deadline - dt.timedelta(days=3)
    for i, case in enumerate(cases):
        folder = inbox / PERIOD / "83" / case.folder if case.folder else inbox / PERIOD / "83"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / case.name
        path.write_bytes(case.content)
        moment = (period.closes_at + dt.timedelta(hours=2)) if case.late_closed else when + dt.timedelta(minutes=i)
        os.utime(path, (moment.timestamp(), moment.timestamp()))

    summary = run_period(settings, PERIOD)  # must not raise, whatever the files are
    warehouse = Warehouse(settings.warehouse)
    submissions = {s["source_key"]: s for s in warehouse.read_table("submission", period_id=PERIOD)}
    findings: dict[str, list[dict]] = {}
    for f in warehouse.read_table("finding"):
        findings.setdefault(f["submission_id"], []).append(f)
    catalogue = load_catalogue(ROOT / "expectations")
    lines, failures = [], []
    for case in cases:
        key = f"{PERIOD}/83/{case.folder}/{case.name}" if case.folder else f"{PERIOD}/83/{case.name}"
        row = submissions[key]
        own = findings.get(row["submission_id"], [])
        reasons = "; ".join(f"{f['check_id']} {f['message'][:90]}" for f in own) or "—"
        lines.append(f"{case.kind:<28} {row['status']:<10} {reasons}")
        if row["status"] != case.state or not case.checks <= {f["check_id"] for f in own}:
            failures.append((case.kind, row["status"], case.state, [f["check_id"] for f in own], case.checks))
        for f in own:  # every reason is a catalogued check, in Vietnamese, naming the file or a cell
            assert f["check_id"] in catalogue and f["message"], case.kind
    report = "\n".join(lines)
    (tmp_path / "hostile-corpus.txt").write_text(report, encoding="utf-8")
    print("\n" + report)
    assert failures == [], failures
    ledger = check_invariant([i.key for i in LocalInbox(inbox).list(PERIOD)],
                             warehouse.read_table("submission", period_id=PERIOD))
    assert ledger["received"] == len(cases) == summary["ledger"]["received"]

    # Outputs stay inside the outputs folder, under safe names; formula-looking text is neutralised.
    out = settings.output_dir.resolve()
    annotated = [s for s in submissions.values() if s["annotated_path"]]
    assert annotated
    for s in annotated:
        path = (out / s["annotated_path"]).resolve()
        assert path.is_file() and out in path.parents
        assert all(ch.isascii() and (ch.isalnum() or ch in "._-/") for ch in s["annotated_path"]), s
    injected = next(s for s in submissions.values() if s["file_name"] == "bao-cao-formula_injection_text.xlsx")
    sheet = load_workbook(out / injected["annotated_path"])["Kết quả kiểm tra"]
    values = [c for row in sheet.iter_rows(min_row=6, values_only=True) for c in row if isinstance(c, str)]
    assert "'=cmd|' /C calc'!A0" in values and not any(v.startswith("=") for v in values)


@pytest.mark.parametrize("make", [zip_bomb, "xml"])
def test_bombs_are_refused_fast_in_bounded_memory(make, hierarchy, period):
    if make == "xml":
        content = xml_bomb(Factory(hierarchy, period).xlsx(hierarchy.reporting_units(DISTRICT)[0].code))
    else:
        content = make()
    assert len(content) < 5 * 1024 * 1024
    spec, catalogue = load_spec(), load_catalogue(ROOT / "expectations")  # the bomb's time, not the YAML's
    tracemalloc.start()
    start = time.perf_counter()
    with pytest.raises(StructureError) as caught:
        read_report(content, "s", "bom.xlsx", spec, catalogue)
    seconds = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert caught.value.finding.check_id == "TH-S-006"
    print(f"{getattr(make, '__name__', make)}: refused in {seconds:.3f} s, peak {peak / 2**20:.1f} MiB")
    assert seconds < 1.0, seconds
    assert peak < 200 * 1024 * 1024, peak


@pytest.mark.parametrize("name, safe", [
    ("../../etc/passwd", "etc-passwd"), ("..", "tep"), ("Báo cáo xã Đông Hòa", "Bao-cao-xa-Dong-Hoa"),
    ("a\x00b\nc", "a-b-c"), (".hidden", "hidden"), ("😀", "tep"),
])
def test_names_are_made_safe_for_paths(name, safe):
    assert safe_name(name) == safe
    assert Path(safe_name(name)).name == safe_name(name)
