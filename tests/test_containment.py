"""One bad file costs that file alone. Each failure an outside review found (a file that aborted `tonghop run`
before anything was recorded, every run again) is here as a poison file in one batch with clean ones, run
twice through the real CLI on SQLite and PostgreSQL: every file ends in a final state with its reason, the
clean files are accepted and published with the figures their values add up to, and the second run finds
nothing left to do. The isolation of the readers (memory, deadline, a dying worker) is tested on its own."""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import re
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import pytest

from tests.conftest import DISTRICT, PERIOD, PROVINCE
from tests.hostile import Factory, _sheet_part, _zip_edit
from tonghop.isolation import CRASHED, FAILED, MEMORY, OK, TIMEOUT, Detached, Limits, run_isolated
from tonghop.synth import SampleOptions, generate_sample
from tonghop.vocabulary import FINAL_STATES
from tonghop.warehouse import Warehouse

TONGHOP = str(Path(sys.executable).with_name("tonghop"))
HOUSEHOLDS = "B. Hộ nghèo"


def cell_xml(content: bytes, sheet: str, cell: str, xml: str) -> bytes:
    """The workbook with one cell's XML replaced (what a writer other than Excel, or an attacker, may put)."""
    part = _sheet_part(content, sheet)

    def edit(name: str, data: bytes) -> bytes:
        if name != part:
            return data
        pattern = rb'<c r="%s"[^>]*?(?:/>|>.*?</c>)' % cell.encode()
        assert re.search(pattern, data, flags=re.DOTALL), cell
        return re.sub(pattern, xml.encode(), data, count=1, flags=re.DOTALL)
    return _zip_edit(content, edit)


def extra_row(content: bytes, sheet: str, row_xml: str) -> bytes:
    part = _sheet_part(content, sheet)
    return _zip_edit(content, lambda name, data: data.replace(b"</sheetData>", row_xml.encode() + b"</sheetData>")
                     if name == part else data)


def unclosed_cells(content: bytes) -> bytes:
    """~20 KB that inflate to 3.6 MB of `<c>` elements never closed: the old pre-scan looked for each one's
    `</c>` to the end of the sheet, for over an hour."""
    part = _sheet_part(content, HOUSEHOLDS)
    body = b'<sheetData><row r="5">' + b'<c r="D5"><v>1</v>' * 200_000 + b"</row></sheetData>"
    return _zip_edit(content, lambda name, data: re.sub(rb"<sheetData>.*</sheetData>", body, data, flags=re.DOTALL)
                     if name == part else data)


def set_cell(sheet: str, cell: str, value: object):
    def edit(wb) -> None:
        wb[sheet][cell] = value
    return edit


@dataclass
class Poison:
    kind: str
    state: str
    checks: set[str]
    make: Callable[[Factory, str], bytes]
    shows: str = ""  # text the reason must quote
    counted: bool = False  # accepted with the values it was built from (an honest file)
    folder_province: str = PROVINCE
    extra: dict = field(default_factory=dict)


POISONS = [
    Poison("count_text_infinity", "rejected", {"TH-F-002"},
           lambda f, c: f.xlsx(c, wb_edit=set_cell(HOUSEHOLDS, "D17", "Infinity")), "Infinity"),
    Poison("count_text_1e400", "rejected", {"TH-F-012"},
           lambda f, c: f.xlsx(c, wb_edit=set_cell(HOUSEHOLDS, "D17", "1E400")), "1E400"),
    Poison("count_text_snan", "rejected", {"TH-F-002"},
           lambda f, c: f.xlsx(c, wb_edit=set_cell(HOUSEHOLDS, "D17", "sNaN")), "sNaN"),
    Poison("count_stored_nan", "rejected", {"TH-F-002"},
           lambda f, c: cell_xml(f.xlsx(c), HOUSEHOLDS, "D17", '<c r="D17"><v>NaN</v></c>')),
    Poison("count_stored_1e400", "rejected", {"TH-F-002"},
           lambda f, c: cell_xml(f.xlsx(c), HOUSEHOLDS, "D17", '<c r="D17"><v>1E400</v></c>')),
    Poison("huge_integer_text", "rejected", {"TH-F-012"},
           lambda f, c: f.xlsx(c, wb_edit=set_cell(HOUSEHOLDS, "D17", "99999999999999999999")),
           "99999999999999999999"),
    Poison("rate_beyond_numeric", "rejected", {"TH-F-012"},
           lambda f, c: f.xlsx(c, edit=lambda v, p: v.update(poor_rate=Decimal("123456789.25")))),
    Poison("spill_in_input_cell", "rejected", {"TH-F-002"},
           lambda f, c: cell_xml(f.xlsx(c), HOUSEHOLDS, "D17",
                                 '<c r="D17" t="e"><f>SEQUENCE(3)</f><v>#SPILL!</v></c>'), "#SPILL!"),
    Poison("calc_blocked_outside_inputs", "accepted", set(),
           lambda f, c: extra_row(f.xlsx(c), HOUSEHOLDS, '<row r="60"><c r="A60" t="e"><f>A1:A2</f><v>#CALC!</v>'
                                  '</c><c r="B60" t="e"><v>#BLOCKED!</v></c></row>'), counted=True),
    Poison("filled_cell_at_xfd1048576", "accepted", set(),
           lambda f, c: extra_row(f.xlsx(c), HOUSEHOLDS, '<row r="1048576"><c r="XFD1048576"><v>1</v></c></row>'),
           counted=True),
    Poison("nul_and_escape_in_text", "accepted", set(),
           lambda f, c: cell_xml(f.xlsx(c), "A. Thông tin chung", "C15",
                                 '<c r="C15" t="inlineStr"><is><t>Nguy_x0000_ễn_x001B_[2J Văn An</t></is></c>'),
           counted=True),
    Poison("unclosed_cells_prescan", "rejected", {"TH-S-001"}, lambda f, c: unclosed_cells(f.xlsx(c))),
    Poison("under_another_province", "rejected", {"TH-S-012"}, lambda f, c: f.xlsx(c), folder_province="01"),
]


def _build(hierarchy, period, tmp_path: Path) -> tuple[Path, dict, dict[str, Poison]]:
    """The batch: one commune per poison, the clean communes of the district, and the commune whose report
    the misplaced file copies (its own, clean, file must stay the accepted one)."""
    factory = Factory(hierarchy, period)
    communes = [u.code for u in hierarchy.reporting_units(DISTRICT)]
    inbox = tmp_path / "inbox"
    when = (period.commune_deadline - dt.timedelta(days=3)).timestamp()
    values, by_key = {}, {}
    for i, commune in enumerate(communes):
        poison = POISONS[i] if i < len(POISONS) else None
        province = poison.folder_province if poison else PROVINCE
        target = communes[-1] if poison and poison.kind == "under_another_province" else commune
        content = poison.make(factory, target) if poison else factory.xlsx(commune)
        path = inbox / PERIOD / province / target / f"bao-cao-{poison.kind if poison else 'sach'}.xlsx"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        os.utime(path, (when + i, when + i))
        key = path.relative_to(inbox).as_posix()
        by_key[key] = poison
        if poison is None or poison.counted:
            values[target] = factory.parts(target)[0]
    return inbox, values, by_key


def _tonghop(*args: str, home: Path, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([TONGHOP, *args], capture_output=True, text=True, check=False, timeout=600,
                          env={**os.environ, "TONGHOP_HOME": str(home), "TONGHOP_SCOPE": DISTRICT, **env})


def test_a_batch_with_one_poison_file_of_each_kind_completes_twice(warehouse_url, hierarchy, period, tmp_path):
    inbox, values, by_key = _build(hierarchy, period, tmp_path)
    home = tmp_path / "home"
    runs = []
    for _ in range(2):
        start = time.perf_counter()
        done = _tonghop("run", "--period", PERIOD, "--inbox", str(inbox), "--warehouse", warehouse_url,
                        "--no-reports", "--json", home=home)
        runs.append(time.perf_counter() - start)
        assert done.returncode == 0, done.stderr[-3000:]
        assert "Traceback" not in done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["ingest"]["new"] == 0  # the second run: nothing left over, nothing read again

    warehouse = Warehouse(warehouse_url)
    submissions = {s["source_key"]: s for s in warehouse.read_table("submission", period_id=PERIOD)}
    findings: dict[str, list[dict]] = {}
    for f in warehouse.read_table("finding"):
        findings.setdefault(f["submission_id"], []).append(f)
    assert set(submissions) == set(by_key)
    report = []
    for key, poison in by_key.items():
        row = submissions[key]
        own = findings.get(row["submission_id"], [])
        report.append(f"{(poison.kind if poison else 'clean'):<28} {row['status']:<9} "
                      + "; ".join(f"{f['check_id']} {f['message'][:80]}" for f in own))
        assert row["status"] in FINAL_STATES
        want = poison.state if poison else "accepted"
        assert row["status"] == want, (key, row["status"], own)
        if poison:
            assert poison.checks <= {f["check_id"] for f in own}, (poison.kind, own)
            assert all(poison.shows in f["message"] for f in own if f["check_id"] in poison.checks)
        for f in own:  # stored text is clean whatever the file held
            assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f]", f["message"] + (f["value"] or "")), f
    print("\n" + "\n".join(report) + f"\nruns: {runs[0]:.1f} s, {runs[1]:.1f} s")

    # Published: exactly the accepted communes' values, added up independently.
    facts = {r["area"]: r for r in warehouse.read_table("fact_households", period_id=PERIOD, unit_code=DISTRICT)}
    for key in ("total_households", "poor_end", "near_poor_end", "poor_merit"):
        assert facts["total"][key] == sum(v[key] for v in values.values()), key
    completeness = next(iter(warehouse.read_table("fact_completeness", period_id=PERIOD, unit_code=DISTRICT,
                                        area="total")))
    assert completeness["accepted"] == len(values)
    names = {s["submitted_for"]: s for s in submissions.values() if s["status"] == "accepted"}
    cleaned = next(k for k, p in by_key.items() if p and p.kind == "nul_and_escape_in_text")
    stored = warehouse.read_table("report", submission_id=submissions[cleaned]["submission_id"])[0]
    assert stored["preparer_name"] == "Nguyễn[2J Văn An"  # NUL and ESC dropped, the rest kept
    assert len(names) == len(values)
    warehouse.dispose()


def test_check_contains_a_reader_that_needs_too_much_memory(hierarchy, period, tmp_path):
    """A 6 KB legacy .xls with one value at its last cell makes calamine fill 16.7 million cells (about 1 GB):
    `tonghop check` answers for that file with TH-S-010 and still checks the one beside it."""
    import xlwt

    book = xlwt.Workbook()
    for name in Factory(hierarchy, period).spec.sheet_names:
        sheet = book.add_sheet(name)
        sheet.write(0, 0, "x")
        sheet.write(65535, 255, 1)
    heavy = tmp_path / "nang.xls"
    book.save(str(heavy))
    assert heavy.stat().st_size < 50_000
    clean = tmp_path / "sach.xlsx"
    clean.write_bytes(Factory(hierarchy, period).xlsx(hierarchy.reporting_units(DISTRICT)[0].code))
    done = _tonghop("check", str(heavy), str(clean), "--format", "json", home=tmp_path / "home",
                    TONGHOP_FILE_MEMORY_MB="300")
    assert done.returncode == 1, done.stderr[-2000:]
    results = {Path(r["file"]).name: r for r in json.loads(done.stdout)}
    heavy_ids = [f["check_id"] for f in results["nang.xls"]["findings"]]
    assert heavy_ids == ["TH-S-010"], results["nang.xls"]
    assert results["sach.xlsx"]["findings"] == []


def _task(item: str) -> str:
    if item == "loop":
        while True:
            pass
    if item == "abort":
        os.abort()
    if item == "grow":
        return str(len(bytearray(4 * 1024**3)))  # beyond the budget: MemoryError in the worker
    if item == "raise":
        raise ValueError("bad value")
    if item.startswith("slow-"):
        time.sleep(0.2)
    return item.upper()


def test_isolation_gives_each_failure_to_its_file_only():
    items = ["a", "loop", "b", "abort", "c", "grow", "raise", "slow-d", "e"]
    start = time.perf_counter()
    outcomes = run_isolated(_task, items, workers=2, limits=Limits(memory_mb=512, seconds=3))
    elapsed = time.perf_counter() - start
    got = {item: (o.status, o.value) for item, o in zip(items, outcomes, strict=True)}
    assert got == {"a": (OK, "A"), "loop": (TIMEOUT, None), "b": (OK, "B"), "abort": (CRASHED, None),
                   "c": (OK, "C"), "grow": (MEMORY, None), "raise": (FAILED, None), "slow-d": (OK, "SLOW-D"),
                   "e": (OK, "E")}
    assert "ValueError: bad value" in outcomes[6].detail
    assert elapsed < 30, elapsed  # one deadline, two short-lived workers for the crash: not a hang


def _detached_task(job: str, _none: object) -> str:
    return _task(job)


@pytest.mark.parametrize("job, status, value", [("a", OK, "A"), ("loop", TIMEOUT, None), ("abort", CRASHED, None),
                                                ("grow", MEMORY, None), ("raise", FAILED, None)])
def test_a_detached_job_runs_while_the_caller_goes_on_and_any_failure_is_its_outcome(job, status, value):
    """The Data Docs of a batch are built this way: what the job does to its process is its outcome, never the run's."""
    import functools

    start = time.perf_counter()
    detached = Detached(functools.partial(_detached_task, "slow-x" if job == "a" else job),
                        Limits(memory_mb=512, seconds=3))
    assert time.perf_counter() - start < 1  # started, not waited for
    outcome = detached.wait()
    assert (outcome.status, outcome.value) == (status, "SLOW-X" if job == "a" else value)
    assert not detached.worker.process.is_alive()


def test_data_docs_that_cannot_be_built_cost_the_docs_alone(settings, hierarchy, period, monkeypatch):
    """The batch's Data Docs are built in a process of their own: one that dies leaves the run, its findings and its
    figures whole, and the summary says there are no docs."""
    from tonghop import validate

    def dying_build(context, docs_dir, _job=None):
        os._exit(3)

    monkeypatch.setattr(validate, "_build_docs", dying_build)
    units = hierarchy.reporting_units(DISTRICT)[:4]
    generate_sample(units, period, hierarchy, settings.inbox_dir, SampleOptions(seed=5, error_rate=0.5, late_rate=0.0))
    from tonghop.pipeline import run_period

    summary = run_period(settings, PERIOD)
    assert summary["ingest"]["files"] == 4 and summary["ingest"]["data_docs"] is None
    assert summary["communes_received"] == 4
    assert summary["ingest"]["accepted"] + summary["ingest"]["rejected"] == 4


def test_the_prescan_is_linear(hierarchy, period):
    from tonghop.safety import inspect

    content = unclosed_cells(Factory(hierarchy, period).xlsx(hierarchy.reporting_units(DISTRICT)[0].code))
    assert len(content) < 64 * 1024
    inflated = sum(i.file_size for i in zipfile.ZipFile(io.BytesIO(content)).infolist())
    start = time.perf_counter()
    inspect(content)
    assert time.perf_counter() - start < 5, f"{inflated} bytes"


def _two_clean_files(settings, hierarchy, period, warehouse_url):
    import dataclasses

    from tonghop.period import PeriodContext
    from tonghop.pipeline import run_period

    settings = dataclasses.replace(settings, warehouse_url=warehouse_url, scope=DISTRICT)
    factory = Factory(hierarchy, period)
    when = (period.commune_deadline - dt.timedelta(days=3)).timestamp()
    communes = [u.code for u in hierarchy.reporting_units(DISTRICT)[:2]]
    for code in communes:
        path = settings.inbox_dir / PERIOD / PROVINCE / code / "bc.xlsx"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(factory.xlsx(code))
        os.utime(path, (when, when))
    run_period(settings, PERIOD)
    return PeriodContext.open(settings, PERIOD), communes


def test_a_value_the_warehouse_refuses_costs_its_file_alone(warehouse_url, settings, hierarchy, period):
    """record_contained stores the batch file by file when the database refuses one file's rows (a bigint
    out of range on PostgreSQL, sqlite3's OverflowError): that file alone ends rejected with TH-S-011."""
    from tonghop.containment import record_contained

    ctx, communes = _two_clean_files(settings, hierarchy, period, warehouse_url)
    warehouse = ctx.warehouse
    subs = {s["submitted_for"]: s for s in warehouse.read_table("submission", period_id=PERIOD)}
    reports = {c: warehouse.read_table("report", submission_id=subs[c]["submission_id"])[0] for c in communes}
    good, bad = communes
    reports[bad] = {**reports[bad], "total_households": 10**20}
    outcomes = [{"submission_id": subs[c]["submission_id"], "status": "accepted", "error_count": 0,
                 "warning_count": 0, "annotated_path": None} for c in communes]
    finding = {"submission_id": subs[bad]["submission_id"], "seq": 1, "check_id": "TH-F-013", "severity": "warning",
               "message": "m", "commune_code": bad, "file_name": "bc.xlsx"}
    record_contained(ctx, outcomes, list(reports.values()), [finding])
    after = {s["submitted_for"]: s for s in warehouse.read_table("submission", period_id=PERIOD)}
    assert after[good]["status"] == "accepted" and after[bad]["status"] == "rejected"
    assert warehouse.read_table("report", submission_id=subs[good]["submission_id"])[0]["total_households"] == \
        reports[good]["total_households"]
    assert warehouse.read_table("report", submission_id=subs[bad]["submission_id"]) == []
    findings = warehouse.read_table("finding", submission_id=subs[bad]["submission_id"])
    assert [f["check_id"] for f in findings] == ["TH-S-011"] and "bc.xlsx" in findings[0]["message"]
    assert outcomes[1]["status"] == "rejected"
    ctx.close()


def test_a_report_that_breaks_the_batch_validation_is_set_aside(settings, hierarchy, period):
    """validate_contained: a report whose frames cannot be built (here its arrays are cut short) is rejected
    with TH-S-011; the others of the batch are validated as usual, in one run."""
    import dataclasses

    import numpy as np

    from tonghop.containment import validate_contained
    from tonghop.validate import BatchValidator, History

    ctx, _ = _two_clean_files(settings, hierarchy, period, f"sqlite:///{settings.home / 'w.sqlite'}")
    from tonghop.reader import read_files

    reads = read_files(ctx.settings, ctx.inbox.list(PERIOD))
    items = [(r.item, r.report) for r in reads]
    broken = dataclasses.replace(items[1][1], numbers=np.zeros(3))
    validator = BatchValidator(ctx.spec, ctx.hierarchy, ctx.settings.expectations_dir)
    result, kept = validate_contained(validator, period, [items[0], (items[1][0], broken)], History(), None)
    assert [r.submission_id for _, r in kept] == [items[0][1].submission_id]
    assert [(f.submission_id, f.check_id) for f in result.findings] == [(broken.submission_id, "TH-S-011")]
    assert result.gx_runs > 0


# Found by tests/test_fuzz.py: each was contained (TH-S-010/011) but rejected the file for the wrong reason.

@pytest.mark.parametrize("text, value", [
    ("0.1234567890123456789012345678901", Decimal("0.1234567890123456789012345678901")),  # 31 digits
    ("1.2345678901234567e+10", Decimal("12345678901.234567")),
    ("15.555,25", Decimal("15555.25")),
])
def test_numbers_with_many_digits_are_read_as_typed(text, value):
    from tonghop.numbers import parse_number_text

    assert parse_number_text(text) == value


def test_prefixed_and_single_quoted_cells_are_scanned():
    from tonghop.safety import scan_sheet

    scan = scan_sheet(b"<x:c r='A1' t='e'><x:v>#SPILL!</x:v></x:c><x:c r=\"B2\"><x:f>1+1</x:f></x:c>"
                      b'<x:c r="XFD1048576"><x:v>1</x:v></x:c>')
    assert scan.notes == {"A1": "#SPILL!", "B2": "=1+1"} and scan.far == "ô XFD1048576"


def test_a_lying_shared_strings_count_takes_the_bounded_reader(hierarchy, period):
    """`<sst uniqueCount="4294967295">` made calamine reserve that many entries and abort; the file is now
    read by the bounded reader and accepted with its values."""
    from tests.fuzz import rezip, to_shared_strings, unzip
    from tonghop.findings import load_catalogue
    from tonghop.parse import read_report
    from tonghop.spec import load_spec

    code = hierarchy.reporting_units(DISTRICT)[0].code
    parts = unzip(Factory(hierarchy, period).xlsx(code))
    to_shared_strings(parts)
    name = next(n for n in parts if n.lower().endswith("sharedstrings.xml"))
    honest = read_report(rezip(parts), "s", "bc.xlsx", load_spec(), load_catalogue(Path("expectations")))
    parts[name] = re.sub(rb'(count|uniqueCount)="\d+"', rb'\1="4294967295"', parts[name], count=2)
    lying = read_report(rezip(parts), "s", "bc.xlsx", load_spec(), load_catalogue(Path("expectations")))
    assert lying.values == honest.values
