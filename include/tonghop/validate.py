"""Validation of a batch of parsed reports with Great Expectations: one GX run per suite per batch.

Frames validated (a suite names its frame in `meta.frame`):
- `reports`: one row per report, a column per field, identification lookups, the previous period's
  figures, and the derived columns of `expectations/derived_columns.yaml`;
- `fields`: one row per report x input field (rules every cell obeys: required, readable, whole,
  bounds, decimals, formats);
- one frame per grid sheet (`deprivations`, `funding`, `outputs`): one row per report x sheet row,
  a column per sheet column (the funding total row carries the sums of the rows beside it).
Money is held in thousandths of a million VND (whole numbers), so money identities are exact.
Each failing row maps back to a submission and its cells and becomes a Finding in Vietnamese.
A large batch shares its suites with a second process (`run_suites`), so that it has both cores.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tonghop.calendar import Period
from tonghop.correspondence import RetiredUnit
from tonghop.findings import Check, Finding, load_catalogue, make_finding
from tonghop.hierarchy import Hierarchy
from tonghop.inbox import InboxFile
from tonghop.isolation import Detached, Limits
from tonghop.numbers import fmt
from tonghop.parse import ParsedReport
from tonghop.spec import Field, Section, TemplateSpec
from tonghop.vocabulary import MONEY_SCALE, local_date, local_time_words
from tonghop.yamlfile import read_yaml

log = logging.getLogger(__name__)

ID = "submission_id"
ROW = "row"
POSITION = "tonghop_position"
LEVEL_CODE_FIELDS = {"province": "province_code", "district": "district_code", "commune": "commune_code"}
HISTORY_FIELDS = ("total_households", "poor_end")
H1_FIELDS = ("poor_start", "near_poor_start")


@dataclass(frozen=True)
class Suite:
    name: str
    frame: str
    definition: dict[str, Any]

    @property
    def joins(self) -> list[str]:
        return self.definition["meta"].get("join", [])


@dataclass
class ValidationResult:
    findings: list[Finding]
    gx_runs: int = 0
    docs_index: Path | None = None
    suites: list[str] = field(default_factory=list)
    docs: DataDocs | None = None  # the Data Docs being built in the background (`docs_in_background`)


@functools.cache
def load_suites(expectations_dir: Path) -> tuple[Suite, ...]:
    suites = []
    for path in sorted(Path(expectations_dir).glob("*.json")):
        doc = json.loads(path.read_text(encoding="utf-8"))
        suites.append(Suite(doc["name"], doc["meta"]["frame"], doc))
    return tuple(suites)


@functools.cache
def load_derived_columns(expectations_dir: Path) -> dict[str, dict[str, str]]:
    return read_yaml(Path(expectations_dir) / "derived_columns.yaml")


def _number(f: Field | None, value: Any) -> float:
    """A value as the float the frames hold: money in thousandths, NaN for blank/unreadable."""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        return np.nan
    if f is not None and f.type == "amount":
        return float(Decimal(value) * MONEY_SCALE)
    return float(value)


def _display(f: Field, report: ParsedReport) -> str:
    """The value found in a cell, as the official typed it (numbers in Vietnamese style)."""
    if f.key in report.unreadable or report.values.get(f.key) is None:
        raw = report.raw.get(f.key)
        return "" if raw is None else str(raw)
    value = report.values[f.key]
    if f.type == "yesno":
        return "Có" if value else "Không"
    if isinstance(value, dt.date):
        return local_date(value)
    return fmt(value)


@dataclass(frozen=True)
class History:
    """What the warehouse knows of each commune's previous period."""

    period_id: str | None = None
    reports: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # commune → values
    is_first_half_of_same_year: bool = False
    # Across a map reform: how each commune's previous figures were made (shown in the messages), and the
    # communes whose previous figures are estimates (a predecessor was split): no equality checks for those.
    labels: Mapping[str, str] = field(default_factory=dict)
    estimated: frozenset[str] = frozenset()


def reports_frame(spec: TemplateSpec, hierarchy: Hierarchy, period: Period,
                  items: Sequence[tuple[InboxFile, ParsedReport]], history: History,
                  retired: Mapping[str, RetiredUnit] | None = None) -> pd.DataFrame:
    """One row per report: numeric fields straight from the parser's arrays, then lookups and history."""
    reports = [report for _, report in items]
    files = [item for item, _ in items]
    numeric = [i for i, f in enumerate(spec.fields) if f.is_numeric]
    block = np.vstack([r.numbers for r in reports])[:, numeric] if reports else np.zeros((0, len(numeric)))
    frame = pd.DataFrame(block, columns=[spec.fields[i].key for i in numeric])
    columns: dict[str, Any] = {ID: [r.submission_id for r in reports],
                               "submitted_for": [i.submitted_for for i in files]}
    for f in spec.fields:
        if not f.is_numeric:
            columns[f.key] = [r.values.get(f.key) for r in reports]
    for level, key in LEVEL_CODE_FIELDS.items():
        # A level the period's map does not have (districts since 2025) has nothing to check.
        columns[key] = ([hierarchy.canonical_code(r.values.get(key), level) for r in reports]
                        if level in hierarchy.levels else [None] * len(reports))
    known = [c in hierarchy and hierarchy[c].level == hierarchy.leaf_level for c in columns["commune_code"]]
    columns["commune_known"] = known
    retired = {} if retired is None else retired  # looked up for unknown codes only: it may load on first use
    gone = [None if k else retired.get(c or "") for c, k in zip(columns["commune_code"], known, strict=True)]
    columns["commune_retired"] = [g is not None for g in gone]
    columns["commune_former"] = [g.former if g else None for g in gone]
    columns["commune_successor"] = [g.successor if g else None for g in gone]
    version = spec.version_for(hierarchy.levels).version
    columns["expected_template_version"] = [version] * len(reports)
    fitting = {v.version for v in spec.versions_for(hierarchy.levels)}
    columns["template_fits_map"] = [r.values.get("template_version") in fitting for r in reports]
    # A workbook of the other map's form lacks (or has extra) district rows: TH-A-008 says so, not TH-A-002.
    columns["district_checkable"] = [k and fits for k, fits in zip(known, columns["template_fits_map"], strict=True)]
    for level in ("district", "province"):
        columns[f"expected_{level}_code"] = [hierarchy.ancestor(c, level) if k else None
                                             for c, k in zip(columns["commune_code"], known, strict=True)]
    tz = period.commune_deadline.tzinfo
    columns["run_period_id"] = [period.id] * len(reports)
    columns["received_in_window"] = [period.accepts_at(i.received_at) for i in files]
    columns["received_at_local"] = [local_time_words(i.received_at, tz) for i in files]
    previous = [history.reports.get(i.submitted_for or "", {}) for i in files]
    columns["prev_period_id"] = [history.labels.get(i.submitted_for or "", history.period_id) if p else None
                                 for i, p in zip(files, previous, strict=True)]
    for key in HISTORY_FIELDS:
        columns[f"prev_{key}"] = np.array([_number(spec.by_key[key], p.get(key)) for p in previous])
    exact = [p if (i.submitted_for or "") not in history.estimated else {} for i, p in zip(files, previous,
                                                                                          strict=True)]
    for key in H1_FIELDS:
        columns[f"h1_{key}"] = (np.array([_number(spec.by_key[key], p.get(key)) for p in exact])
                                if history.is_first_half_of_same_year else np.full(len(reports), np.nan))
    return pd.concat([pd.DataFrame(columns), frame], axis=1)


TEXT_CHECKED = ("phone", "email")  # input types whose text is matched against a pattern


def _stacked_categorical(values: Sequence[str], repeat: int = 1, tile: int = 1) -> pd.Categorical:
    """`pd.Categorical(np.tile(np.repeat(values, repeat), tile))`, made from the codes of the values: factorising the
    1.8 million strings of a national frame cost a third of a second."""
    codes, categories = pd.factorize(np.asarray(values, dtype=object), sort=True)
    stacked = np.tile(np.repeat(codes, repeat), tile)
    if not len(stacked):  # no report: no categories either, as pd.Categorical of nothing
        return pd.Categorical(np.asarray([], dtype=object))
    return pd.Categorical.from_codes(stacked, categories=categories)


def fields_frame(spec: TemplateSpec, reports: Sequence[ParsedReport]) -> pd.DataFrame:
    """One row per report × input field (1.8 million rows nationally), stacked from the parser's arrays."""
    inputs = [i for i, f in enumerate(spec.fields) if f.is_input]
    fields = [spec.fields[i] for i in inputs]
    n, m = len(reports), len(inputs)
    numbers = np.vstack([r.numbers for r in reports])[:, inputs] if n else np.zeros((0, m))
    scale = np.array([MONEY_SCALE if f.type == "amount" else 1 for f in fields], dtype="float64")
    numbers = numbers / scale  # back to the unit of the cell, for the bounds
    blank = np.vstack([r.blank for r in reports])[:, inputs] if n else np.zeros((0, m), dtype=bool)
    decimals = np.vstack([r.decimals for r in reports])[:, inputs] if n else np.zeros((0, m))
    readable = np.vstack([r.readable for r in reports])[:, inputs] if n else np.zeros((0, m), dtype=bool)
    legacy = np.vstack([r.legacy for r in reports])[:, inputs] if n else np.zeros((0, m), dtype=bool)
    oversized = np.vstack([r.oversized for r in reports])[:, inputs] if n else np.zeros((0, m), dtype=bool)
    counts = np.array([f.type == "count" for f in fields])
    text = np.full((n, m), None, dtype=object)
    for j, f in enumerate(fields):
        if f.type in TEXT_CHECKED:
            text[:, j] = [None if r.values.get(f.key) is None else str(r.values[f.key]) for r in reports]

    def per_field(values: list) -> np.ndarray:
        return np.tile(np.asarray(values), n)

    # Categorical keys: Great Expectations' row conditions compare them ~2x faster on 1.8 million rows.
    return pd.DataFrame({
        ID: _stacked_categorical([r.submission_id for r in reports], repeat=m),
        "field_key": _stacked_categorical([f.key for f in fields], tile=n),
        "type": _stacked_categorical([f.type for f in fields], tile=n),
        "required": per_field([f.required for f in fields]),
        "numeric": per_field([f.is_numeric for f in fields]),
        "blank": blank.ravel(),
        "text": text.ravel(),
        "readable": readable.ravel(),
        "legacy_text": legacy.ravel(),
        "oversized": oversized.ravel(),
        "number": numbers.ravel(),
        "fraction": np.where(counts, np.mod(numbers, 1), np.nan).ravel(),
        "decimals": np.where([f.decimals is not None for f in fields], decimals, np.nan).ravel(),
        "min": per_field([np.nan if f.min is None else float(f.min) for f in fields]),
        "max": per_field([np.nan if f.max is None else float(f.max) for f in fields]),
        "max_decimals": per_field([np.nan if f.decimals is None else float(f.decimals) for f in fields]),
    })


def grid_frame(spec: TemplateSpec, section_key: str, reports: pd.DataFrame, joins: Sequence[str]) -> pd.DataFrame:
    """One row per report x sheet row; a total row also gets `<column>__rows_sum` for each numeric column."""
    section = spec.section(section_key)
    parts = []
    for row in section.grid_rows:
        part = pd.DataFrame({ID: reports[ID], ROW: row.key})
        for column in section.grid_columns:
            part[column] = reports[_grid_key(section, row.key, column)]
        parts.append(part)
    totals = [f for f in section.fields if f.grid_row == "total"]
    if totals:
        part = pd.DataFrame({ID: reports[ID], ROW: "total"})
        for f in totals:
            part[f.grid_column] = reports[f.key]
            part[f"{f.grid_column}__rows_sum"] = sum(
                (reports[_grid_key(section, r.key, f.grid_column)] for r in section.grid_rows),
                start=pd.Series(0.0, index=reports.index))
        parts.append(part)
    frame = pd.concat(parts, ignore_index=True)
    if joins:
        frame = frame.merge(reports[[ID, *joins]], on=ID, how="left")
    return frame


def _grid_key(section: Section, row: str, column: str) -> str:
    for f in section.fields:
        if f.grid_row == row and f.grid_column == column:
            return f.key
    raise KeyError(f"{section.key}: no field at row {row}, column {column}")


VERDICTS_FIRST_MAX_REPORTS = 10


class BatchValidator:
    """Runs every suite over a batch and turns failures into findings."""

    def __init__(self, spec: TemplateSpec, hierarchy: Hierarchy, expectations_dir: Path,
                 retired: Mapping[str, RetiredUnit] | None = None) -> None:
        self.spec = spec
        self.hierarchy = hierarchy
        self.retired = {} if retired is None else retired
        self.expectations_dir = Path(expectations_dir)
        self.catalogue: dict[str, Check] = load_catalogue(self.expectations_dir)
        self.suites = load_suites(self.expectations_dir)
        self.derived = load_derived_columns(self.expectations_dir)

    def frames(self, period: Period, items: Sequence[tuple[InboxFile, ParsedReport]],
               history: History) -> dict[str, pd.DataFrame]:
        reports = reports_frame(self.spec, self.hierarchy, period, items, history, self.retired)
        frames = {"reports": reports, "fields": fields_frame(self.spec, [r for _, r in items])}
        for suite in self.suites:
            if suite.frame not in frames:
                frames[suite.frame] = grid_frame(self.spec, suite.frame, reports, suite.joins)
        for name, frame in frames.items():
            for column, expression in (self.derived.get(name) or {}).items():
                # Evaluated over the columns it can name: DataFrame.eval resolves every column of the frame it is
                # called on (~230 in `reports`), which was a third of the frames' cost for one report.
                frame[column] = frame[[c for c in frame.columns if c in expression]].eval(expression)
        return frames

    def validate(self, period: Period, items: Sequence[tuple[InboxFile, ParsedReport]],
                 history: History | None = None, docs_dir: Path | None = None,
                 docs_in_background: bool = False, verdicts_first: bool | None = None,
                 parallel: bool | None = None) -> ValidationResult:
        """Findings of every suite over the batch. With `docs_dir`, the run's Data Docs are built there: before this
        returns, or with `docs_in_background` while the caller goes on (`result.docs.finish()` waits for them).

        `verdicts_first` (default: for a few reports without Data Docs, as `tonghop check` validates) runs each suite
        for its verdicts alone, then only its failing expectations for their rows: GX's COMPLETE results cost 40 %
        of a one-report validation, and a workbook checked before it is sent usually passes. A batch fails some
        row of most expectations, which would then run twice; Data Docs need every expectation's COMPLETE result.
        `parallel`: see `run_suites` (default: for a large batch)."""
        if verdicts_first is None:
            verdicts_first = docs_dir is None and len(items) <= VERDICTS_FIRST_MAX_REPORTS
        if not items:
            return ValidationResult([])
        frames = self.frames(period, items, history or History())
        index_columns = {name: [ID, "field_key"] if name == "fields" else ([ID] if name == "reports" else [ID, ROW])
                         for name in frames}
        by_id = {report.submission_id: (item, report) for item, report in items}
        outcome = run_suites(self.suites, frames, index_columns, docs_dir, docs_in_background, verdicts_first,
                             parallel)
        indexed = {name: frame.set_index(index_columns[name]) for name, frame in frames.items()
                   if name != "fields"}
        findings: list[Finding] = [note.placed(item) for item, report in items for note in report.notes]
        for suite, expectation, rows in outcome.failures:
            check = self.catalogue[expectation["meta"]["check_id"]]
            for row in rows:
                item, report = by_id[row[ID]]
                if suite.frame == "fields":
                    finding = self._field_finding(check, report, self.spec.by_key[row["field_key"]])
                else:
                    key = tuple(row[c] for c in index_columns[suite.frame])
                    frame_row = indexed[suite.frame].loc[key[0] if len(key) == 1 else key]
                    finding = self._report_finding(check, report, expectation["meta"], frame_row, row.get(ROW))
                findings.append(finding.placed(item))
        findings.sort(key=lambda f: (f.submission_id, f.severity != "error", f.check_id, f.sheet or "", f.cell or ""))
        return ValidationResult(findings, outcome.runs, outcome.docs_index, [s.name for s in self.suites], outcome.docs)

    def _field_finding(self, check: Check, report: ParsedReport, f: Field) -> Finding:
        context = {"cell": f.cell, "sheet": f.sheet, "label": f.label, "value": _display(f, report),
                   "min": fmt(f.min), "max": fmt(f.max), "decimals": f.decimals}
        return make_finding(check, report.submission_id, context, sheet=f.sheet, cells=[f.cell],
                            field_key=f.key, label=f.label)

    def _report_finding(self, check: Check, report: ParsedReport, meta: dict[str, Any], row: pd.Series,
                        grid_row: str | None) -> Finding:
        fields = [self.spec.by_key[k.format(row=grid_row)] for k in meta.get("fields", [])]
        # The finding is about its subject field (the first unless meta says otherwise); cells on
        # another sheet are named with their sheet.
        subject = fields[meta.get("subject", 0)] if fields else None
        home = subject.sheet if subject else None

        def where(f: Field) -> str:
            return f.cell if f.sheet == home else f"{f.cell} (trang «{f.sheet}»)"

        def shown(column: str) -> str:
            return _frame_display(row[column], amount=bool(meta.get("amount")))

        context: dict[str, Any] = {}
        for i, f in enumerate(fields):
            context.update({f"f{i}_label": f.label, f"f{i}_cell": where(f), f"f{i}_value": _display(f, report)})
        if subject:
            context.update(cell=subject.cell, sheet=subject.sheet, label=subject.label,
                           value=_display(subject, report))
        if meta.get("value_column"):
            context["value"] = shown(meta["value_column"])
        if meta.get("expected_column"):
            context["expected"] = shown(meta["expected_column"])
        for placeholder, column in (meta.get("context") or {}).items():
            context[placeholder] = shown(column)
        return make_finding(check, report.submission_id, context, sheet=home,
                            cells=[f.cell if f.sheet == home else f"'{f.sheet}'!{f.cell}" for f in fields],
                            field_key=subject.key if subject else None,
                            label=subject.label if subject else None)


def _frame_display(value: Any, amount: bool = False) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float | int | np.floating | np.integer) and not isinstance(value, bool):
        if amount:
            return fmt(Decimal(round(float(value))) / MONEY_SCALE)
        value = float(value)
        return fmt(int(value)) if value.is_integer() else fmt(round(value, 2), 2)
    return str(value)


@dataclass
class SuiteRuns:
    failures: list[tuple[Suite, dict[str, Any], list[dict[str, Any]]]]
    runs: int
    docs_index: Path | None
    docs: DataDocs | None = None


DOCS_LIMITS = Limits(memory_mb=4096, seconds=600)  # a national batch's pages, on a slow machine


def _build_docs(context: Any, docs_dir: Path, _job: object = None) -> str:
    """Data Docs of the validations stored in `context`, written to `docs_dir`; their index page."""
    docs_dir.mkdir(parents=True, exist_ok=True)
    context.add_data_docs_site("tonghop_run", {
        "class_name": "SiteBuilder",
        "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(docs_dir)},
        "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
    })
    _escape_results_for_docs(context)
    context.build_data_docs(site_names=["tonghop_run"])
    return str(docs_dir / "index.html")


class DataDocs:
    """A validation's Data Docs, rendered in a process of its own (forked with the results in memory) while the run
    goes on: rendering a province's pages took half as long as validating its 526 reports, and nothing but the link
    in the log waits for them. `finish()` waits; a build that fails, runs out of memory or time leaves no docs."""

    def __init__(self, context: Any, docs_dir: Path) -> None:
        self.index = docs_dir / "index.html"
        self.build = Detached(functools.partial(_build_docs, context, docs_dir), DOCS_LIMITS)

    def finish(self) -> Path | None:
        """The index page once it is written, or None when the build failed."""
        outcome = self.build.wait()
        if outcome.ok:
            return self.index
        log.warning("Data Docs not built: %s (%s)", outcome.status, outcome.detail)
        return None


def _escape_results_for_docs(context: Any) -> None:
    """HTML-escape the validated data in the stored results, before Data Docs are rendered from them.

    GX 1.24 renders Data Docs with Jinja templates named *.j2, which its `select_autoescape(["html", "xml"])`
    leaves unescaped, and it escapes only the parameters of string templates
    (`DefaultJinjaView.render_string_template`). The unexpected values, their counts and index columns reach
    the page as plain table cells (`_diagnostic_unexpected_table_renderer` → table.j2 →
    `render_content_block`, which returns strings and other values as they are), and so do the observed value
    and the `unexpected_index_query`: text a commune typed (a name, an e-mail) would be live HTML in front of
    the data team. Everything under `result` comes from the data and is escaped here, once; the expectation
    configurations are ours (GX escapes their parameters itself). `exception_info` is not touched: its message
    is a template parameter, escaped by GX, and a result with an exception never gets this far (run_suites
    raises)."""
    from html import escape

    def escaped(value: Any) -> Any:
        if isinstance(value, str):
            return escape(value)
        if isinstance(value, dict):
            return {k: escaped(v) for k, v in value.items()}
        if isinstance(value, list | tuple):  # a pair's value is a tuple, and GX groups by it: keep it one
            return type(value)(escaped(v) for v in value)
        return value

    store = context.validation_results_store
    for key in store.list_keys():
        suite_result = store.get(key)
        for result in suite_result.results:
            result.result = escaped(result.result or {})
        store.set(key, suite_result)


def _columns_used(frame: pd.DataFrame, suite: Suite, index_columns: Sequence[str]) -> pd.DataFrame:
    """The frame narrowed to the columns a suite names (and the index columns). GX's pandas engine evaluates a
    row condition with DataFrame.query, which resolves every column of the frame on each metric it computes:
    the reports frame has ~230 columns. A column a suite names appears in its JSON, so nothing it reads is lost."""
    text = json.dumps(suite.definition["expectations"])
    return frame[[c for c in frame.columns if c in index_columns or c in text]]


def _failed_expectations(context: Any, batch_definition: Any, suite: Suite, data: pd.DataFrame,
                         positions: Sequence[int], result_format: dict[str, Any], part: str = "") -> list[Any]:
    """Run the expectations of `suite` at `positions` over `data`; the results of those that failed."""
    import great_expectations as gx

    expectations = suite.definition["expectations"]
    # Tag each expectation with its position: GX returns results in its own order.
    tagged = [{**expectations[i], "meta": {**expectations[i].get("meta", {}), POSITION: i}} for i in positions]
    name = f"{suite.name}:{part}" if part else suite.name
    gx_suite = context.suites.add(gx.ExpectationSuite(**{**suite.definition, "name": name, "expectations": tagged}))
    validation = context.validation_definitions.add(
        gx.ValidationDefinition(name=f"{suite.frame}:{name}", data=batch_definition, suite=gx_suite))
    result = validation.run(batch_parameters={"dataframe": data}, result_format=result_format)
    for res in result.results:
        if res.exception_info and res.exception_info.get("raised_exception"):
            raise RuntimeError(f"suite {suite.name}: expectation {res.expectation_config.type} failed to run: "
                               f"{res.exception_info.get('exception_message')}")
    return [res for res in result.results if not res.success]


# A batch this large (rows x expectations over every suite) spreads its suites over two processes.
PARALLEL_SUITES_FROM = 1_000_000  # about 400 reports
SUITES_LIMITS = Limits(memory_mb=4096, seconds=1200)  # the other process's share of a national batch
# What Data Docs are rendered from: the suites and the validation results, as the context stores them.
_DOCS_STORES = ("expectations_store", "validation_results_store")


def _stored(context: Any) -> dict[str, dict[tuple, Any]]:
    """Every entry of the stores Data Docs are rendered from, as their backends hold them (serialised)."""
    out = {}
    for name in _DOCS_STORES:
        backend = getattr(context, name).store_backend
        out[name] = {key: backend.get(key) for key in backend.list_keys()}
    return out


def _two_shares(costs: Sequence[int]) -> set[int]:
    """Indexes of the suites the second process runs: the costliest first, each to the lighter share, so the two
    shares end about together."""
    shares: tuple[list[int], list[int]] = ([], [])
    load = [0, 0]
    for i in sorted(range(len(costs)), key=lambda i: -costs[i]):
        lighter = 0 if load[0] <= load[1] else 1
        shares[lighter].append(i)
        load[lighter] += costs[i]
    return set(shares[1])


class _SuiteShare:
    """The second process's share of `run_suites`: its suites' failures by index, and the store entries they added
    (the process is forked with the context, the frames and what was stored so far)."""

    def __init__(self, run: Any, indexes: Sequence[int], context: Any) -> None:
        self.run, self.indexes, self.context = run, indexes, context
        self.before = _stored(context)

    def __call__(self, _job: object = None) -> tuple[dict[int, tuple[list, int]], dict[str, dict[tuple, Any]]]:
        results = {i: self.run(i) for i in self.indexes}
        added = {name: {key: value for key, value in entries.items() if key not in self.before[name]}
                 for name, entries in _stored(self.context).items()}
        return results, added


def run_suites(suites: Sequence[Suite], frames: dict[str, pd.DataFrame], index_columns: dict[str, list[str]],
               docs_dir: Path | None = None, docs_in_background: bool = False,
               verdicts_first: bool = False, parallel: bool | None = None) -> SuiteRuns:
    """Validate each frame with its suites in one ephemeral GX context; return the failing rows per expectation.

    With `docs_dir`, GX Data Docs for the run are built there (index.html, one page per suite): before this
    returns, or in the background (`SuiteRuns.docs`). With `verdicts_first`, each suite runs first for its verdicts
    alone and only its failing expectations run again for their rows (see `BatchValidator.validate`).

    `parallel` (default: for a batch of PARALLEL_SUITES_FROM rows x expectations or more) runs part of the suites in
    a second process, forked with the context and the frames, while this one runs the rest: a national batch has
    the machine's cores to itself while it is validated. Its failures and its store entries (for the Data Docs)
    come back; if that process fails, its suites run here after all."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    for name in ("great_expectations", "great_expectations.data_context.types.base"):
        logging.getLogger(name).setLevel(logging.WARNING)
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    source = context.data_sources.add_pandas("tonghop")
    plan = [(frame_name, suite) for frame_name in frames for suite in suites if suite.frame == frame_name]
    batch_definitions = {frame_name: source.add_dataframe_asset(frame_name)
                         .add_batch_definition_whole_dataframe(frame_name)
                         for frame_name in dict.fromkeys(frame_name for frame_name, _ in plan)}

    def run(i: int) -> tuple[list[tuple[int, list[dict[str, Any]]]], int]:
        """Suite `i` of the plan: (position of each failing expectation, its failing rows), and the GX runs."""
        frame_name, suite = plan[i]
        frame, index = frames[frame_name], index_columns[frame_name]
        complete = {"result_format": "COMPLETE", "unexpected_index_column_names": index}
        validate = functools.partial(_failed_expectations, context, batch_definitions[frame_name], suite,
                                     _columns_used(frame, suite, index))
        failed = validate(range(len(suite.definition["expectations"])),
                          {"result_format": "BOOLEAN_ONLY"} if verdicts_first else complete)
        if verdicts_first and failed:
            failed = validate(sorted(r.expectation_config.meta[POSITION] for r in failed), complete, "failing")
        return [(res.expectation_config.meta[POSITION],
                 [{k: r[k] for k in index} for r in res.result.get("unexpected_index_list") or []])
                for res in failed], 1

    costs = [len(frames[f]) * len(s.definition["expectations"]) for f, s in plan]
    if parallel is None:
        parallel = not verdicts_first and sum(costs) >= PARALLEL_SUITES_FROM
    away = _two_shares(costs) if parallel and len(plan) > 1 else set()
    helper = Detached(_SuiteShare(run, sorted(away), context), SUITES_LIMITS) if away else None
    results = {i: run(i) for i in range(len(plan)) if i not in away}
    if helper is not None:
        outcome = helper.wait()
        if outcome.ok:
            shares, added = outcome.value
            results.update(shares)
            for name, entries in added.items():
                backend = getattr(context, name).store_backend
                for key, value in entries.items():
                    backend.set(key, value)
        else:
            log.warning("the second validation process failed (%s: %s); its suites run here",
                        outcome.status, outcome.detail)
            results.update({i: run(i) for i in away})
    failures = [(suite, suite.definition["expectations"][position], rows)
                for i, (_, suite) in enumerate(plan) for position, rows in results[i][0]]
    runs = sum(results[i][1] for i in range(len(plan)))
    if docs_dir is None:
        return SuiteRuns(failures, runs, None)
    if docs_in_background:
        docs = DataDocs(context, docs_dir)
        return SuiteRuns(failures, runs, docs.index, docs)
    return SuiteRuns(failures, runs, Path(_build_docs(context, docs_dir)))
