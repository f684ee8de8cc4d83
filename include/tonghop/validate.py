"""Validation of a batch of parsed reports with Great Expectations: one GX run per suite per batch.

Two frames are validated:
- `reports`: one row per report, a column per field plus identification lookups and the derived
  columns of `expectations/derived_columns.yaml` (cross-field rules);
- `fields`: one row per report x input field (rules that hold for every cell: required, readable,
  whole number, bounds, decimals).
Each failed row maps back to a submission (and a field) and becomes a Finding with its Vietnamese message.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from tonghop.calendar import Period
from tonghop.findings import Check, Finding, load_catalogue, make_finding
from tonghop.hierarchy import Hierarchy
from tonghop.inbox import InboxFile
from tonghop.numbers import decimal_places, fmt
from tonghop.parse import ParsedReport
from tonghop.spec import Field, TemplateSpec

log = logging.getLogger(__name__)

ID = "submission_id"
POSITION = "tonghop_position"
LEVEL_CODE_FIELDS = {"province": "province_code", "district": "district_code", "commune": "commune_code"}


@dataclass(frozen=True)
class Suite:
    name: str
    frame: str
    definition: dict[str, Any]


@functools.cache
def load_suites(expectations_dir: Path) -> tuple[Suite, ...]:
    suites = []
    for path in sorted(Path(expectations_dir).glob("*.json")):
        doc = json.loads(path.read_text(encoding="utf-8"))
        suites.append(Suite(doc["name"], doc["meta"]["frame"], doc))
    return tuple(suites)


@functools.cache
def load_derived_columns(expectations_dir: Path) -> dict[str, str]:
    return yaml.safe_load((Path(expectations_dir) / "derived_columns.yaml").read_text(encoding="utf-8"))


def _number(value: Any) -> float:
    return float(value) if isinstance(value, int | float | Decimal) and not isinstance(value, bool) else np.nan


def _display(f: Field, report: ParsedReport) -> str:
    """The value found in a cell, as the official typed it (numbers in Vietnamese style)."""
    if f.key in report.unreadable or report.values.get(f.key) is None:
        raw = report.raw.get(f.key)
        return "" if raw is None else str(raw)
    value = report.values[f.key]
    if f.type == "yesno":
        return "Có" if value else "Không"
    if isinstance(value, dt.date):
        return value.strftime("%d/%m/%Y")
    return fmt(value)


def reports_frame(spec: TemplateSpec, hierarchy: Hierarchy, period: Period,
                  items: Sequence[tuple[InboxFile, ParsedReport]], derived: dict[str, str]) -> pd.DataFrame:
    rows = []
    tz = period.commune_deadline.tzinfo
    for item, report in items:
        row: dict[str, Any] = {ID: report.submission_id, "submitted_for": item.submitted_for,
                               "run_period_id": period.id}
        for f in spec.fields:
            value = report.values.get(f.key)
            row[f.key] = _number(value) if f.is_numeric else value
        for level, key in LEVEL_CODE_FIELDS.items():
            row[key] = hierarchy.canonical_code(report.values.get(key), level) if level in hierarchy.levels \
                else (report.values.get(key) or None)
        commune = row["commune_code"]
        known = commune in hierarchy and hierarchy[commune].level == hierarchy.leaf_level
        row["commune_known"] = known
        for level in ("district", "province"):
            row[f"expected_{level}_code"] = hierarchy.ancestor(commune, level) if known else None
        row["received_in_window"] = period.accepts_at(item.received_at)
        row["received_at_local"] = item.received_at.astimezone(tz).strftime("%H:%M ngày %d/%m/%Y")
        rows.append(row)
    frame = pd.DataFrame(rows)
    for name, expression in derived.items():
        frame[name] = frame.eval(expression)
    return frame


def fields_frame(spec: TemplateSpec, reports: Iterable[ParsedReport]) -> pd.DataFrame:
    inputs = spec.input_fields()
    records = []
    for report in reports:
        for f in inputs:
            raw = report.raw.get(f.key)
            value = report.values.get(f.key)
            number = _number(value) if f.is_numeric else np.nan
            records.append((
                report.submission_id, f.key, f.type, f.required, f.is_numeric,
                None if raw is None else str(raw),
                f.key not in report.unreadable,
                number,
                number % 1 if f.type == "count" and not math.isnan(number) else np.nan,
                float(decimal_places(value)) if isinstance(value, Decimal) and f.decimals is not None else np.nan,
                np.nan if f.min is None else float(f.min),
                np.nan if f.max is None else float(f.max),
                np.nan if f.decimals is None else float(f.decimals),
            ))
    return pd.DataFrame.from_records(records, columns=[
        ID, "field_key", "type", "required", "numeric", "raw_text", "readable", "number", "fraction",
        "decimals", "min", "max", "max_decimals"])


class BatchValidator:
    """Runs every suite over a batch and turns failures into findings."""

    def __init__(self, spec: TemplateSpec, hierarchy: Hierarchy, expectations_dir: Path) -> None:
        self.spec = spec
        self.hierarchy = hierarchy
        self.expectations_dir = Path(expectations_dir)
        self.catalogue: dict[str, Check] = load_catalogue(self.expectations_dir)
        self.suites = load_suites(self.expectations_dir)
        self.derived = load_derived_columns(self.expectations_dir)

    def validate(self, period: Period, items: Sequence[tuple[InboxFile, ParsedReport]]) -> list[Finding]:
        if not items:
            return []
        frames = {
            "reports": reports_frame(self.spec, self.hierarchy, period, items, self.derived),
            "fields": fields_frame(self.spec, (report for _, report in items)),
        }
        index_columns = {"reports": [ID], "fields": [ID, "field_key"]}
        by_id = {report.submission_id: report for _, report in items}
        results = run_suites(self.suites, frames, index_columns)
        reports_indexed = frames["reports"].set_index(ID)
        findings: list[Finding] = []
        for suite, expectation, rows in results:
            check = self.catalogue[expectation["meta"]["check_id"]]
            for row in rows:
                report = by_id[row[ID]]
                if suite.frame == "fields":
                    findings.append(self._field_finding(check, report, self.spec.by_key[row["field_key"]]))
                else:
                    findings.append(self._report_finding(check, report, expectation["meta"],
                                                         reports_indexed.loc[row[ID]]))
        return sorted(findings, key=lambda f: (f.submission_id, f.severity != "error", f.check_id,
                                               f.sheet or "", f.cell or ""))

    def _field_finding(self, check: Check, report: ParsedReport, f: Field) -> Finding:
        context = {"cell": f.cell, "sheet": f.sheet, "label": f.label, "value": _display(f, report),
                   "min": fmt(f.min), "max": fmt(f.max), "decimals": f.decimals}
        return make_finding(check, report.submission_id, context, sheet=f.sheet, cells=[f.cell],
                            field_key=f.key, label=f.label)

    def _report_finding(self, check: Check, report: ParsedReport, meta: dict[str, Any],
                        row: pd.Series) -> Finding:
        fields = [self.spec.by_key[k] for k in meta.get("fields", [])]
        # The finding is about its subject field (the first unless meta says otherwise); cells on
        # another sheet are named with their sheet.
        subject = fields[meta.get("subject", 0)] if fields else None
        home = subject.sheet if subject else None

        def where(f: Field) -> str:
            return f.cell if f.sheet == home else f"{f.cell} (trang «{f.sheet}»)"

        context: dict[str, Any] = {}
        for i, f in enumerate(fields):
            context.update({f"f{i}_label": f.label, f"f{i}_cell": where(f), f"f{i}_value": _display(f, report)})
        if subject:
            context.update(cell=subject.cell, sheet=subject.sheet, label=subject.label,
                           value=_display(subject, report))
        if meta.get("value_column"):
            context["value"] = _frame_display(row[meta["value_column"]])
        if meta.get("expected_column"):
            context["expected"] = _frame_display(row[meta["expected_column"]])
        return make_finding(check, report.submission_id, context, sheet=home,
                            cells=[f.cell if f.sheet == home else f"'{f.sheet}'!{f.cell}" for f in fields],
                            field_key=subject.key if subject else None,
                            label=subject.label if subject else None)


def _frame_display(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float):
        return fmt(round(value, 2)) if not value.is_integer() else fmt(int(value))
    return str(value)


def run_suites(suites: Sequence[Suite], frames: dict[str, pd.DataFrame],
               index_columns: dict[str, list[str]]) -> list[tuple[Suite, dict[str, Any], list[dict[str, Any]]]]:
    """Validate each frame with its suites in one ephemeral GX context; return the failing rows per expectation."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    for name in ("great_expectations", "great_expectations.data_context.types.base"):
        logging.getLogger(name).setLevel(logging.WARNING)
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    source = context.data_sources.add_pandas("tonghop")
    out = []
    for frame_name, frame in frames.items():
        asset = source.add_dataframe_asset(frame_name)
        batch_definition = asset.add_batch_definition_whole_dataframe(frame_name)
        for suite in (s for s in suites if s.frame == frame_name):
            expectations = suite.definition["expectations"]
            # Tag each expectation with its position: GX returns results in its own order.
            tagged = [{**e, "meta": {**e.get("meta", {}), POSITION: i}} for i, e in enumerate(expectations)]
            gx_suite = context.suites.add(gx.ExpectationSuite(**{**suite.definition, "expectations": tagged}))
            validation = context.validation_definitions.add(
                gx.ValidationDefinition(name=f"{frame_name}:{suite.name}", data=batch_definition, suite=gx_suite))
            result = validation.run(
                batch_parameters={"dataframe": frame},
                result_format={"result_format": "COMPLETE",
                               "unexpected_index_column_names": index_columns[frame_name]})
            for res in result.results:
                if res.exception_info and res.exception_info.get("raised_exception"):
                    raise RuntimeError(f"suite {suite.name}: expectation {res.expectation_config.type} failed to run: "
                                       f"{res.exception_info.get('exception_message')}")
                if res.success:
                    continue
                expectation = expectations[res.expectation_config.meta[POSITION]]
                rows = [{k: r[k] for k in index_columns[frame_name]}
                        for r in res.result.get("unexpected_index_list") or []]
                out.append((suite, expectation, rows))
    return out

