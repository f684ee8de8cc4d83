"""Fuzzing the ingest path: one bad file costs that file alone.

Each Hypothesis example is one batch in the inbox of Huyện Ba Tri (district 836): two clean workbooks and
two to four mutated ones (tests/fuzz.py: cell types and values, references, styles, <dimension>, rows,
columns, merges, shared strings, whole parts, the zip itself), each in its own commune folder, sometimes
followed by a byte-identical copy or by the commune's clean correction. The batch goes through the real
`run_period` (SQLite warehouse, no e-mail), in a child process so that a native crash, a hang or a memory
blow-up is one failed example, not a lost session. After each run:

- the run ended by itself, without an exception, within TONGHOP_FUZZ_TIMEOUT seconds (120);
- the run's memory stayed under TONGHOP_FUZZ_MEMORY_MB (2048 MiB): the largest resident set of any of its
  processes (wait4's rusage, what RUSAGE_CHILDREN reports) and the PSS of the child with its reader workers,
  polled every 0.1 s (the child is a fork of this process, its workers forks of it: PSS counts the pages
  they share once); the run is killed past it. This process's own peak (VmHWM) grew < 512 MiB;
- every file of the inbox is in the ledger in a final state: accepted, rejected (with a finding), duplicate,
  superseded — clean files and corrections accepted, copies duplicate, edits that keep the workbook accepted;
- an accepted mutated file holds, in every household count and amount whose cell no edit touched, the value
  its clean original was generated with (tests/fuzz.py says which cells each edit may change);
- the district's and province's published households and funding equal sums computed here from the values
  the clean workbooks were generated with (plus what the warehouse holds for accepted mutated files), and
  every published number is finite.

Budget: TONGHOP_FUZZ_EXAMPLES generated examples (default 5) after one explicit example of known trouble,
derandomized (the same examples every run), no shrinking: ~25 s of imports and clean workbooks, then ~10-15 s
a batch (most of it Great Expectations' validation of the batch), about 90 s on 2 cores. On demand:
  TONGHOP_FUZZ_EXAMPLES=200 TONGHOP_FUZZ_SEED=7 TONGHOP_FUZZ_SHRINK=1 pytest tests/test_fuzz.py -s
TONGHOP_FUZZ_RUNNER=cli runs each batch through `tonghop run --period … --json` instead (the real CLI,
consolidated reports included; ~45 s a batch). TONGHOP_FUZZ_SURVEY=<file> records every failing example
there (JSON lines) and goes on, to list all distinct failures of a long run. TONGHOP_FUZZ_STRICT=1 also fails
on a reader's bug that the pipeline contained (a TH-S-011 rejection).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import resource
import shutil
import signal
import sys
import threading
import time
import traceback
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, example, given, seed
from hypothesis import settings as hsettings

from tests import expected as exp
from tests import fuzz
from tests.conftest import DISTRICT, PERIOD, PROVINCE
from tests.hostile import Factory
from tonghop.config import Settings
from tonghop.spec import load_spec
from tonghop.vocabulary import ACCEPTED, DUPLICATE, FINAL_STATES, REJECTED, SUPERSEDED


def _knob(name: str, default: str | None = None) -> str | None:
    """A TONGHOP_FUZZ_* setting. tests/conftest.py removes every TONGHOP_* variable from os.environ before
    the tests run (so Settings see embedded defaults); these are read from the environment the process was
    started with."""
    if name in os.environ:
        return os.environ[name]
    try:
        launch = Path("/proc/self/environ").read_bytes().split(b"\0")
    except OSError:
        return default
    prefix = name.encode() + b"="
    found = [v[len(prefix):].decode(errors="replace") for v in launch if v.startswith(prefix)]
    return found[-1] if found else default


EXAMPLES = int(_knob("TONGHOP_FUZZ_EXAMPLES", "5"))
SEED = _knob("TONGHOP_FUZZ_SEED")
SHRINK = _knob("TONGHOP_FUZZ_SHRINK", "") not in ("", "0")
RUNNER = _knob("TONGHOP_FUZZ_RUNNER", "fork")
SURVEY = _knob("TONGHOP_FUZZ_SURVEY")
TIMEOUT = float(_knob("TONGHOP_FUZZ_TIMEOUT", "120"))
MEMORY_LIMIT = int(_knob("TONGHOP_FUZZ_MEMORY_MB", "2048")) * 2 ** 20
# Also fail on a reader's bug that was contained (TH-S-011: the file is rejected with "the system could not
# process it", which the invariant allows): to check fixes of the reader itself.
STRICT = _knob("TONGHOP_FUZZ_STRICT", "") not in ("", "0")
PARENT_GROWTH_LIMIT = 512 * 2 ** 20
MiB = 2 ** 20

_spec = load_spec()
_cell = {f.key: (f.sheet, f.cell) for f in _spec.fields}
_FIELD_CELL = {key: cell for key, cell in _cell.items()
               if key in {*exp.HOUSEHOLD_COUNTS, *(f"{c}_{m}" for c in exp.COMPONENTS for m in exp.MONEY)}}

# The trouble the issue names, always tried first: count text 'Infinity' and '1E400', a number past a double,
# Excel 365's #SPILL!, a NaN amount, a sheet claiming the whole grid; with a copy, a correction, and a file
# only rewritten with shared strings and stored uncompressed (which must be accepted as it is).
KNOWN_TROUBLE = fuzz.Batch(tuple(range(9)), 2, (
    fuzz.MutatedFile((fuzz.CellEdit(*_cell["poor_merit"], "inlineStr", "Infinity", "is"),), None),
    fuzz.MutatedFile((fuzz.CellEdit(*_cell["poor_female_headed"], "inlineStr", "1E400", "is"),), None),
    fuzz.MutatedFile((fuzz.CellEdit(*_cell["total_households"], "n", "1E400"),), None),
    fuzz.MutatedFile((fuzz.CellEdit(*_cell["poor_social_protection"], "e", "#SPILL!"),), None, resent_copy=True),
    fuzz.MutatedFile((fuzz.CellEdit(*_cell["p1_alloc_central"], "n", "NaN"),), None, corrected=True),
    fuzz.MutatedFile((fuzz.DimensionEdit("B. Hộ nghèo", "A1:XFD1048576"),), None),
    fuzz.MutatedFile((fuzz.SharedStringsEdit("convert"),), fuzz.ZipEdit("stored")),
))


# --------------------------------------------------------------------------------------------- the batch

@dataclass
class Expected:
    key: str  # inbox key, as the ledger's source_key
    commune: str
    role: str  # clean, mutated, copy, correction
    states: tuple[str, ...]
    values: dict[str, Any] | None = None  # the values it must be published with, when it must be accepted
    what: str = ""  # the mutations, for messages
    # When accepted, the values it must hold in every field whose cell no edit touched (a mutated file):
    untouched: dict[str, Any] | None = None


class Bases:
    """Clean workbooks and their values, built once per (commune, seed) for the whole test."""

    def __init__(self, factory: Factory) -> None:
        self.factory = factory
        self.cache: dict[tuple[str, int], tuple[bytes, dict[str, Any]]] = {}

    def get(self, commune: str, seed: int = 3) -> tuple[bytes, dict[str, Any]]:
        if (commune, seed) not in self.cache:
            values, _ = self.factory.parts(commune, seed)
            self.cache[commune, seed] = (self.factory.xlsx(commune, seed=seed), values)
        return self.cache[commune, seed]


def write_batch(batch: fuzz.Batch, communes: list[str], bases: Bases, inbox: Path, period: Any) -> list[Expected]:
    when = period.commune_deadline - dt.timedelta(days=3)
    out: list[Expected] = []

    def put(commune: str, name: str, content: bytes, moment: dt.datetime) -> str:
        folder = inbox / PERIOD / PROVINCE / commune
        folder.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(content)
        os.utime(folder / name, (moment.timestamp(), moment.timestamp()))
        return f"{PERIOD}/{PROVINCE}/{commune}/{name}"

    codes = [communes[i] for i in batch.communes]
    for i, commune in enumerate(codes[: batch.clean]):
        content, values = bases.get(commune)
        key = put(commune, "bao-cao.xlsx", content, when + dt.timedelta(minutes=i))
        out.append(Expected(key, commune, "clean", (ACCEPTED,), values))
    for i, (commune, mutated) in enumerate(zip(codes[batch.clean:], batch.mutated, strict=True)):
        base, values = bases.get(commune)
        built = mutated.build(base)
        content = built.content
        moment = when + dt.timedelta(minutes=10 + i)
        key = put(commune, "bao-cao.xlsx", content, moment)
        if mutated.corrected:
            states: tuple[str, ...] = (REJECTED, SUPERSEDED)
        else:
            states = (ACCEPTED,) if built.preserving else (ACCEPTED, REJECTED)
        untouched = None if built.touched is None else {
            k: v for k, v in values.items() if k in _FIELD_CELL and _FIELD_CELL[k] not in built.touched}
        out.append(Expected(key, commune, "mutated", states, values if built.preserving else None, repr(mutated),
                            untouched))
        if mutated.resent_copy:
            key = put(commune, "bao-cao (1).xlsx", content, moment + dt.timedelta(hours=1))
            out.append(Expected(key, commune, "copy", (DUPLICATE,), None, "copy of " + repr(mutated)))
        if mutated.corrected:
            fixed, fixed_values = bases.get(commune, seed=4)
            key = put(commune, "bao-cao-sua.xlsx", fixed, moment + dt.timedelta(hours=2))
            out.append(Expected(key, commune, "correction", (ACCEPTED,), fixed_values, "correction"))
    return out


# ------------------------------------------------------------------------------------------------ runners

@dataclass
class Outcome:
    seconds: float
    peak_rss: int  # the largest resident set of one process (the child or a worker), from wait4's rusage
    peak_pss: int  # the tree's peak proportional set size, polled every 0.1 s
    exit_code: int | None = None
    signal: int | None = None
    killed: str | None = None  # "timeout" or "memory"
    error: str | None = None  # the child's traceback
    summary: dict[str, Any] | None = None
    log_tail: str = ""

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.killed and self.summary is not None

    def describe(self) -> str:
        if self.killed == "timeout":
            return f"killed after {TIMEOUT:.0f} s (no end)"
        if self.killed == "memory":
            return f"killed at {self.peak_pss / MiB:.0f} MiB (PSS; limit {MEMORY_LIMIT / MiB:.0f} MiB)"
        if self.signal:
            return f"died of signal {self.signal} ({signal.Signals(self.signal).name})"
        if self.error:
            return "raised: " + self.error.strip().splitlines()[-1]
        if self.exit_code:
            return f"exit code {self.exit_code}"
        return "ended without a summary" if self.summary is None else "ok"


def _tree_pss(pid: int) -> int:
    """Proportional set size of the child and its workers: each shared page counted once over the tree (the
    workers are forks of the child, which is a fork of this process: their RSS would count it many times)."""
    import psutil

    try:
        process = psutil.Process(pid)
        members = [process, *process.children(recursive=True)]
    except psutil.Error:
        return 0
    total = 0
    for member in members:
        try:
            total += member.memory_full_info().pss
        except psutil.Error:
            pass
    return total


def _supervise(pid: int, started: float) -> tuple[int, Any, int, str | None]:
    """Wait for the child (its own process group); kill the group at the time or memory bound.
    Returns (wait status, rusage of the child and the workers it reaped, peak PSS of the tree, why killed)."""
    peak, killed = 0, None
    stop = threading.Event()

    def watch() -> None:
        nonlocal peak, killed
        while not stop.wait(0.1):
            pss = _tree_pss(pid)
            peak = max(peak, pss)
            reason = "memory" if pss > MEMORY_LIMIT else "timeout" if time.monotonic() - started > TIMEOUT else None
            if reason and not killed:
                killed = reason
                _kill_group(pid)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    _, status, usage = os.wait4(pid, 0)
    stop.set()
    watcher.join()
    _kill_group(pid)  # pool workers the child left behind
    return status, usage, peak, killed


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _child_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("TONGHOP_", "AIRFLOW_CONN_", "AIRFLOW_CTX_"))}
    env["TONGHOP_HOME"] = str(home)
    return env


def run_batch(settings: Settings, folder: Path) -> Outcome:
    log, result = folder / "run.log", folder / "result.json"
    started = time.monotonic()
    if RUNNER == "cli":
        tonghop = str(Path(sys.executable).with_name("tonghop"))
        env = _child_env(settings.home)
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child
            try:
                os.setsid()
                os.dup2(os.open(result, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644), 1)
                os.dup2(os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644), 2)
                os.execve(tonghop, [tonghop, "run", "--period", PERIOD, "--json"], env)
            finally:
                os._exit(127)
    else:
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child: the real run_period, reported through files
            _run_in_child(settings, log, result)
    status, usage, pss, killed = _supervise(pid, started)
    outcome = Outcome(round(time.monotonic() - started, 2), usage.ru_maxrss * 1024, pss, killed=killed)
    if os.WIFSIGNALED(status):
        outcome.signal = os.WTERMSIG(status)
    else:
        outcome.exit_code = os.WEXITSTATUS(status)
    text = result.read_text(encoding="utf-8", errors="replace") if result.exists() else ""
    lines = [line for line in text.splitlines() if line.startswith("{")]
    if lines:
        data = json.loads(lines[-1])
        outcome.error = data.pop("__error__", None)
        outcome.summary = data if outcome.error is None else None
    if log.exists():
        outcome.log_tail = log.read_text(encoding="utf-8", errors="replace")[-4000:]
        if outcome.error is None and outcome.exit_code not in (0, None):
            outcome.error = outcome.log_tail  # the CLI's traceback
    return outcome


def _run_in_child(settings: Settings, log: Path, result: Path) -> None:  # pragma: no cover - the child
    code = 70
    try:
        os.setsid()
        os.dup2(os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644), 1)
        os.dup2(1, 2)
        import faulthandler
        import logging

        stream = open(2, "w", closefd=False)  # noqa: SIM115 - the child's stderr, for its whole life
        faulthandler.enable(stream)
        handler = logging.StreamHandler(stream)
        handler.setLevel(logging.WARNING)
        logging.getLogger().addHandler(handler)
        from tonghop.pipeline import run_period

        try:
            summary = run_period(settings, PERIOD)
            result.write_text(json.dumps(summary, default=str), encoding="utf-8")
            code = 0
        except BaseException:  # noqa: BLE001 - whatever it is, the parent reports it
            result.write_text(json.dumps({"__error__": traceback.format_exc()}), encoding="utf-8")
            code = 1
    finally:
        os._exit(code)


# -------------------------------------------------------------------------------------------------- checks

def _finite(value: Any) -> bool:
    if isinstance(value, bool) or value is None or isinstance(value, str | dt.date):
        return True
    if isinstance(value, Decimal):
        return value.is_finite()
    if isinstance(value, int | float):
        return math.isfinite(value)
    return True


def check_batch(settings: Settings, expected: list[Expected], outcome: Outcome) -> tuple[list[str], dict[str, str]]:
    """(problems, key → state found)."""
    from tonghop.warehouse import Warehouse

    if not outcome.ok:
        problem = f"run {outcome.describe()}"
        if outcome.error:
            problem += "\n" + outcome.error[-3000:]
        elif outcome.log_tail:
            problem += "\n" + outcome.log_tail[-2000:]
        return [problem], {}
    problems: list[str] = []
    for what, peak in (("resident set of one process", outcome.peak_rss), ("PSS of the run", outcome.peak_pss)):
        if peak > MEMORY_LIMIT:
            problems.append(f"peak {what} {peak / MiB:.0f} MiB > {MEMORY_LIMIT / MiB:.0f} MiB")
    warehouse = Warehouse(settings.warehouse)
    try:
        submissions = {s["source_key"]: s for s in warehouse.read_table("submission", period_id=PERIOD)}
        findings: dict[str, list[dict]] = defaultdict(list)
        for f in warehouse.read_table("finding"):
            findings[f["submission_id"]].append(f)
        states = {key: row["status"] for key, row in submissions.items()}
        unknown = sorted(set(submissions) - {e.key for e in expected})
        if unknown:
            problems.append(f"ledger rows for files not in the inbox: {unknown}")
        accepted: dict[str, dict[str, Any]] = {}  # commune → values it must be published with
        for e in expected:
            row = submissions.get(e.key)
            if row is None:
                problems.append(f"{e.role} {e.key} ({e.what}) not in the ledger")
                continue
            status = row["status"]
            if status not in FINAL_STATES:
                problems.append(f"{e.role} {e.key} ({e.what}) left {status!r}")
            elif status not in e.states:
                reasons = "; ".join(f"{f['check_id']} {f['message'][:160]}" for f in findings[row["submission_id"]])
                problems.append(f"{e.role} {e.key} ({e.what}) ended {status}, expected {'/'.join(e.states)}"
                                f" — {reasons or 'no findings'}")
            if status == REJECTED and (row["error_count"] < 1 or not findings[row["submission_id"]]):
                problems.append(f"{e.role} {e.key} ({e.what}) rejected without a recorded error")
            for f in findings[row["submission_id"]] if STRICT else ():
                if f["check_id"] == "TH-S-011":
                    problems.append(f"{e.role} {e.key} ({e.what}): the reader failed: {f['message'][:300]}")
            if status == ACCEPTED and row["error_count"]:
                problems.append(f"{e.role} {e.key} accepted with {row['error_count']} error(s)")
            if status == ACCEPTED:
                stored = warehouse.read_table("report", submission_id=row["submission_id"])
                if e.values is not None:
                    for key in _compared_keys():
                        want, got = e.values.get(key), stored[0].get(key) if stored else None
                        if _number(want) != _number(got):
                            problems.append(f"{e.role} {e.key} ({e.what}): report {key} = {got!r}, "
                                            f"generated {want!r}")
                    accepted[e.commune] = e.values
                elif stored:
                    accepted[e.commune] = stored[0]  # an accepted mutated file: as the warehouse holds it
                    for key, want in (e.untouched or {}).items():  # what no edit touched reads as it was
                        if _number(want) != _number(stored[0].get(key)):
                            problems.append(f"{e.role} {e.key} ({e.what}) accepted with {key} = "
                                            f"{stored[0].get(key)!r}, but its cell {'!'.join(_cell[key])} was not "
                                            f"edited and holds {want!r}")
                else:
                    problems.append(f"{e.role} {e.key} accepted but no report row")
        problems += _check_figures(warehouse.read_table("fact_households", period_id=PERIOD),
                                   warehouse.read_table("fact_funding", period_id=PERIOD), accepted)
        completeness = [r for r in warehouse.read_table("fact_completeness", period_id=PERIOD)
                        if r["unit_code"] == DISTRICT and r["area"] == "total"]
        communes_sent = {e.commune for e in expected}
        if len(completeness) != 1:
            problems.append(f"{len(completeness)} completeness rows for district {DISTRICT}")
        else:
            got = {k: completeness[0][k] for k in ("received", "accepted")}
            want = {"received": len(communes_sent), "accepted": len(accepted)}
            if got != want:
                problems.append(f"district completeness {got}, expected {want}")
        if outcome.summary and outcome.summary.get("ledger", {}).get("received") != len(expected):
            problems.append(f"run summary ledger {outcome.summary.get('ledger')} for {len(expected)} files")
    finally:
        warehouse.dispose()
    return problems, states


def _compared_keys() -> list[str]:
    return [*exp.HOUSEHOLD_COUNTS,
            *[f"{c}_{m}" for c in exp.COMPONENTS for m in exp.MONEY]]


def _number(value: Any) -> Any:
    if value is None:
        return 0
    return Decimal(str(value)) if not isinstance(value, bool) else value


def _check_figures(households: list[dict], funding: list[dict], accepted: dict[str, dict[str, Any]]) -> list[str]:
    """District and province totals (and their urban/rural split) against sums over `accepted`."""
    units = exp.gso_units()
    problems = []
    for level, code in (("district", DISTRICT), ("province", PROVINCE)):
        for area in ("total", "urban", "rural"):
            members = [c for c in accepted if units[c][level] == code
                       and (area == "total" or units[c]["urban"] == (area == "urban"))]
            rows = [r for r in households if r["unit_code"] == code and r["area"] == area]
            where = f"{level} {code} {area}"
            if not members:
                if rows and rows[0]["reports"]:
                    problems.append(f"{where}: published {rows[0]['reports']} report(s), expected none")
                continue
            if len(rows) != 1:
                problems.append(f"{where}: {len(rows)} fact_households rows")
                continue
            got = rows[0]
            if got["reports"] != len(members):
                problems.append(f"{where}: reports {got['reports']}, expected {len(members)}")
            for key in exp.HOUSEHOLD_COUNTS:
                want = sum(_number(accepted[c].get(key)) for c in members)
                if _number(got[key]) != want:
                    problems.append(f"{where}: {key} published {got[key]!r}, expected {want}")
            for component in exp.COMPONENTS:
                match = [r for r in funding if r["unit_code"] == code and r["area"] == area
                         and r["component"] == component]
                if len(match) != 1:
                    problems.append(f"{where}: {len(match)} fact_funding rows for {component}")
                    continue
                for money in exp.MONEY:
                    want = sum(_number(accepted[c].get(f"{component}_{money}")) for c in members)
                    if _number(match[0][money]) != want:
                        problems.append(f"{where}: {component}_{money} published {match[0][money]!r}, "
                                        f"expected {want}")
    for row in [*households, *funding]:
        if row["unit_code"] in (DISTRICT, PROVINCE):
            bad = {k: v for k, v in row.items() if not _finite(v)}
            if bad:
                problems.append(f"{row['unit_code']} {row['area']}: not finite {bad}")
    return problems


# ---------------------------------------------------------------------------------------------- the test

def _vm_hwm() -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


@dataclass
class Log:
    lines: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)
    peak_child: int = 0
    peak_pss: int = 0
    runs: int = 0


def _summary_line(n: int, outcome: Outcome, expected: list[Expected], states: dict[str, str],
                  findings: dict[str, str]) -> str:
    files = []
    for e in expected:
        state = states.get(e.key, "?")
        why = findings.get(e.key)
        label = e.role if e.role != "mutated" else e.what
        files.append(f"{e.commune}:{label}={state}{f'({why})' if why else ''}")
    return (f"[fuzz {n}] {RUNNER} {outcome.seconds:.1f}s rss {outcome.peak_rss / MiB:.0f}MiB "
            f"pss {outcome.peak_pss / MiB:.0f}MiB "
            f"{outcome.describe() if not outcome.ok else ''}| " + " | ".join(files))


def _first_findings(settings: Settings) -> dict[str, str]:
    from tonghop.warehouse import Warehouse

    warehouse = Warehouse(settings.warehouse)
    try:
        keys = {s["submission_id"]: s["source_key"] for s in warehouse.read_table("submission", period_id=PERIOD)}
        out: dict[str, str] = {}
        for f in warehouse.read_table("finding"):
            if f["severity"] == "error" and keys.get(f["submission_id"]) not in out:
                # A reader's bug or a resource limit, contained: say what it was.
                contained = f["check_id"] in ("TH-S-010", "TH-S-011")
                out[keys[f["submission_id"]]] = f["check_id"] + (f" {f['message'][:160]!r}" if contained else "")
        return out
    except Exception:  # noqa: BLE001 - the summary line is best effort; the checks say what is wrong
        return {}
    finally:
        warehouse.dispose()


@pytest.mark.fuzz
@pytest.mark.skipif(not hasattr(os, "fork"), reason="runs each batch in a forked child")
def test_mutated_workbooks_cost_only_themselves(hierarchy, period, tmp_path):
    communes = [u.code for u in hierarchy.reporting_units(DISTRICT)]
    bases = Bases(Factory(hierarchy, period))
    fuzz.sheet_parts(fuzz.unzip(bases.get(communes[0])[0]))  # the sheets' parts, from a clean workbook
    if RUNNER == "fork":  # imported once here, not in every child
        import great_expectations  # noqa: F401
        import sqlalchemy.orm  # noqa: F401

        import tonghop.pipeline  # noqa: F401
    baseline = _vm_hwm()
    log = Log()

    @hsettings(max_examples=EXAMPLES, deadline=None, derandomize=SEED is None, database=None,
               phases=[Phase.explicit, Phase.generate, *([Phase.shrink] if SHRINK else [])],
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                      HealthCheck.large_base_example, HealthCheck.filter_too_much],
               print_blob=False)
    @given(fuzz.batches(len(communes)))
    @example(KNOWN_TROUBLE)
    def one_batch(batch: fuzz.Batch) -> None:
        log.runs += 1
        folder = tmp_path / f"example-{log.runs}"
        home = folder / "home"
        settings = Settings.from_env(home=home, inbox=home / "inbox", output=home / "runs")
        expected = write_batch(batch, communes, bases, settings.inbox_dir, period)
        outcome = run_batch(settings, folder)
        log.peak_child = max(log.peak_child, outcome.peak_rss)
        log.peak_pss = max(log.peak_pss, outcome.peak_pss)
        problems, states = check_batch(settings, expected, outcome)
        line = _summary_line(log.runs, outcome, expected, states, _first_findings(settings) if outcome.ok else {})
        log.lines.append(line)
        print(line, flush=True)
        if not problems:
            shutil.rmtree(folder, ignore_errors=True)
            return
        message = f"{len(problems)} problem(s) in example {log.runs} (kept in {folder}):\n- " + "\n- ".join(problems)
        if SURVEY:
            with open(SURVEY, "a", encoding="utf-8") as out:
                out.write(json.dumps({"example": log.runs, "batch": [repr(m) for m in batch.mutated],
                                      "outcome": outcome.describe(), "problems": problems}) + "\n")
            print(message, flush=True)
            return
        raise AssertionError(message)

    if SEED is not None:
        one_batch = seed(int(SEED))(one_batch)
    try:
        one_batch()
    finally:
        seconds = time.monotonic() - log.started
        children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
        report = (f"{log.runs} batch(es) in {seconds:.0f} s; peak resident set of a child {log.peak_child / MiB:.0f} "
                  f"MiB (RUSAGE_CHILDREN {children / MiB:.0f} MiB), peak PSS of a run {log.peak_pss / MiB:.0f} MiB; "
                  f"this process grew "
                  f"{(_vm_hwm() - baseline) / MiB:.0f} MiB")
        (tmp_path / "fuzz-summary.txt").write_text("\n".join([*log.lines, report]) + "\n", encoding="utf-8")
        print(report, flush=True)
    assert _vm_hwm() - baseline < PARENT_GROWTH_LIMIT
