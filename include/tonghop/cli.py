"""`tonghop` command line: the same functions the DAG tasks call."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import re
import sys
import tempfile
import unicodedata
from collections.abc import Iterable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from tonghop.calendar import CalendarError, load_calendar
from tonghop.config import Settings
from tonghop.editions import EditionError
from tonghop.hierarchy import Hierarchy
from tonghop.numbers import fmt
from tonghop.startup import CHECK_LIBRARIES, PERIOD_LIBRARIES, REPORT_LIBRARIES, import_paused
from tonghop.storage import S3Inbox, is_s3
from tonghop.yamlfile import YamlFileError

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    pass


# Text printed here carries what senders typed and named their files: a terminal acts on control characters
# (ESC sequences rewrite the screen or the window title, \r overwrites a line, BEL rings, the C1 CSI U+009B
# is ESC [ to some terminals), bidi controls reorder what is shown, and line breaks (\n, U+2028 …) would let a
# value forge lines of its own. Each such character becomes a space (breaks, tabs) or "?" (the rest).
_BREAKS = frozenset("\t\n\v\f\r\x1c\x1d\x1e\x1f\x85\u2028\u2029")


def _unsafe(ch: str) -> bool:
    return unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp")


def plain(text: object) -> str:
    """One line of untrusted text, safe for a terminal."""
    return "".join((" " if ch in _BREAKS else "?") if _unsafe(ch) else ch for ch in str(text))


def plain_lines(text: str) -> str:
    """Text of several lines (ours), each made safe for a terminal; the line breaks are kept."""
    return "\n".join(plain(line) for line in text.split("\n"))


_NOT_ASCII = re.compile("[^\x00-\x7e]")


def _json_escape(match: re.Match[str]) -> str:
    ch = match[0]
    if not _unsafe(ch):
        return ch
    code = ord(ch)
    if code < 0x10000:
        return f"\\u{code:04x}"
    code -= 0x10000
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


def json_text(data: Any, **kwargs: Any) -> str:
    """JSON for a terminal or a pipe: `json.dumps` escapes C0 controls (ESC is \\u001b) but leaves DEL, the C1
    controls, bidi and other format characters, U+2028/U+2029 raw; they are escaped too, so the text is the
    same JSON value and nothing a terminal acts on."""
    text = json.dumps(data, ensure_ascii=False, **kwargs)
    return _NOT_ASCII.sub(_json_escape, text)


def _say(text: object, file: Any = None) -> None:
    print(plain(text), file=file or sys.stdout)


class _PlainFormatter(logging.Formatter):
    """Log lines with the same treatment: a logged value cannot forge lines; tracebacks keep theirs."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        return plain(super().formatMessage(record))

    def formatException(self, ei: Any) -> str:
        return plain_lines(super().formatException(ei))

    def formatStack(self, stack_info: str) -> str:
        return plain_lines(super().formatStack(stack_info))


def _progress(items: Iterable[Any], total: int, description: str = "") -> Iterable[Any]:
    from tqdm import tqdm

    return tqdm(items, total=total, desc=description, unit="tệp", file=sys.stderr, disable=None, leave=False)


def _settings(args: argparse.Namespace) -> Settings:
    return Settings.from_env(inbox=getattr(args, "inbox", None), warehouse_url=getattr(args, "warehouse", None),
                             output=getattr(args, "output", None), scope=getattr(args, "scope", None))


def _common_unit(hierarchy: Hierarchy, communes: Iterable[str]) -> str | None:
    """The smallest unit above the leaf level that holds every one of these communes (None: several provinces)."""
    codes = [c for c in communes if c in hierarchy]
    found = None
    for level in hierarchy.levels[:-1]:
        above = {hierarchy.ancestor(c, level) for c in codes}
        if len(above) != 1 or None in above:
            break
        found = above.pop()
    return found


def _scope_line(settings: Settings, period_id: str, submissions: list[dict[str, Any]]) -> str:
    """Which units the run rolled up, said plainly; without a scope, what the files suggest instead."""
    period = _period(settings, period_id)
    edition = settings.edition_for(period).id
    hierarchy = settings.editions.hierarchy(edition)
    scope = settings.scope_for(edition)
    if scope:
        return f"Scope: {hierarchy[scope].name} ({scope}; TONGHOP_SCOPE or --scope)."
    line = "Scope: the whole country (no TONGHOP_SCOPE or --scope): every commune on the map is expected."
    only = _common_unit(hierarchy, (s["submitted_for"] for s in submissions if s.get("submitted_for")))
    if only:
        line += (f" Every file received is from {hierarchy[only].name} ({only}): to consolidate it alone, run with "
                 f"--scope {only} (or TONGHOP_SCOPE={only}).")
    return line


def _period(settings: Settings, period_id: str):
    try:
        return load_calendar(settings.calendar_path).get(period_id)
    except CalendarError as exc:
        raise UsageError(str(exc)) from None


ALL_UNITS = "all"


def _units(hierarchy: Hierarchy, code: str, period) -> list:
    if code == ALL_UNITS:  # the whole map: every commune of the country
        return hierarchy.reporting_units(None, active_on=period.deadline_date)
    if code not in hierarchy:
        raise UsageError(f"unit {code!r} is not in the hierarchy ({hierarchy.source})")
    return hierarchy.reporting_units(code, active_on=period.deadline_date)


def cmd_template(args: argparse.Namespace) -> int:
    from tonghop.spec import load_spec
    from tonghop.template import prefill_values, write_workbook

    settings = _settings(args)
    period = _period(settings, args.period)
    hierarchy = settings.hierarchy_for(period)
    units = _units(hierarchy, args.unit, period)
    spec = load_spec()
    for unit in _progress(units, len(units), "Tạo mẫu biểu"):
        write_workbook(Path(args.out) / f"mau-bieu-{period.id}-{unit.code}.xlsx",
                       prefill_values(spec, hierarchy, period, unit.code), period)
    _say(f"{len(units)} workbook(s) written to {args.out}")
    return EXIT_OK


def cmd_sample(args: argparse.Namespace) -> int:
    from tonghop.synth import DEFAULT_KINDS, MISTAKES, SampleOptions, generate_sample, manifest_path

    settings = _settings(args)
    period = _period(settings, args.period)
    hierarchy = settings.hierarchy_for(period)
    units = _units(hierarchy, args.unit, period)
    kinds = tuple(args.kinds.split(",")) if args.kinds else DEFAULT_KINDS
    unknown = set(kinds) - set(MISTAKES)
    if unknown:
        raise UsageError(f"unknown mistake kinds {sorted(unknown)}; known: {', '.join(MISTAKES)}")
    errors = tuple(k for k in kinds if MISTAKES[k][2] == "error")
    warnings = tuple(k for k in kinds if MISTAKES[k][2] == "warning")
    options = SampleOptions(seed=args.seed, error_rate=args.error_rate, warning_rate=args.warning_rate,
                            late_rate=args.late_rate, missing_rate=args.missing_rate, kinds=errors,
                            **({"warning_kinds": warnings} if args.kinds else {}))
    with tempfile.TemporaryDirectory(prefix="tonghop-sample-") as scratch:
        out = Path(scratch) if is_s3(args.out) else Path(args.out)
        reports = generate_sample(units, period, hierarchy, out, options,
                                  progress=lambda it, total: _progress(it, total, "Tạo báo cáo mẫu"))
        if is_s3(args.out):  # upload in the inbox layout, the received time as object metadata
            inbox = S3Inbox(args.out)
            for report in _progress(reports, len(reports), "Tải lên S3"):
                inbox.put(report.path.relative_to(out).as_posix(), report.path.read_bytes(), report.received_at)
            manifest = manifest_path(out, period.id)
            inbox.put(manifest.name, manifest.read_bytes())
    where = args.out.rstrip("/") + "/" + period.id if is_s3(args.out) else Path(args.out) / period.id
    with_errors = sum(r.has_error for r in reports)
    _say(f"{len(reports)} report(s) for {len(units)} commune(s) written to {where} "
         f"({with_errors} with injected errors); manifest: manifest-{period.id}.json beside it")
    return EXIT_OK


def cmd_fields(args: argparse.Namespace) -> int:
    from tonghop.spec import load_spec

    fields = [f.as_dict() for f in load_spec().fields]
    if args.format == "json":
        print(json_text(fields, indent=1))
        return EXIT_OK
    for f in fields:
        bounds = "" if f["min"] is None else f"[{fmt(f['min'])}..{fmt(f['max'])}]"
        flags = "bắt buộc" if f["required"] else ""
        kind = "nhập" if f["input"] else ("điền sẵn" if f["prefilled"] else "công thức")
        _say(f"{f['key']:<34} {f['sheet']:<20} {f['cell']:<5} {f['type']:<7} {f['unit'] or '':<11} "
             f"{bounds:<18} {kind:<9} {flags:<9} {f['label']}")
    return EXIT_OK


def _coerce(field, value: Any) -> Any:
    if value is None:
        return None
    if field.type == "date" and isinstance(value, str):
        return dt.date.fromisoformat(value)
    if field.type in ("amount", "rate") and isinstance(value, float | int):
        return Decimal(str(value))
    return value


def cmd_fill(args: argparse.Namespace) -> int:
    from tonghop.spec import load_spec
    from tonghop.template import prefill_values, write_workbook

    settings = _settings(args)
    period = _period(settings, args.period)
    hierarchy = settings.hierarchy_for(period)
    if args.unit not in hierarchy or hierarchy[args.unit].level != hierarchy.leaf_level:
        raise UsageError(f"{args.unit!r} is not a reporting unit (commune) of the hierarchy")
    spec = load_spec()
    values = json.loads(Path(args.values).read_text(encoding="utf-8"), parse_float=Decimal)
    unknown = sorted(k for k in values if k not in spec.by_key)
    if unknown:
        raise UsageError(f"unknown field keys {unknown}; `tonghop fields` lists them")
    fixed = sorted(k for k in values if not spec.by_key[k].is_input)
    if fixed:
        raise UsageError(f"fields {fixed} are pre-filled or computed; identification comes from --period/--unit")
    typed = {k: _coerce(spec.by_key[k], v) for k, v in values.items()}
    out = write_workbook(Path(args.out), prefill_values(spec, hierarchy, period, args.unit), period, typed)
    _say(f"written {out}")
    return EXIT_OK


def cmd_check(args: argparse.Namespace) -> int:
    from tonghop.findings import ERROR, SEVERITY_LABELS, WARNING
    from tonghop.vocabulary import ACCEPTED, REJECTED
    from tonghop.workbook_check import check_workbooks

    settings = _settings(args)
    received_at = dt.datetime.fromisoformat(args.received_at) if args.received_at else None
    if received_at and received_at.tzinfo is None:
        received_at = received_at.replace(tzinfo=load_calendar(settings.calendar_path).timezone)
    paths = [Path(p) for p in args.files]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise UsageError(f"no such file: {', '.join(missing)}")
    results = check_workbooks(settings, paths, args.period, args.unit, received_at)
    any_error = any(f.severity == ERROR for _, findings in results for f in findings)
    annotated: dict[Path, Path] = {}
    if args.annotate:
        from tonghop.annotate import annotate_workbook, annotated_name  # openpyxl: only when asked

        out_dir = Path(args.annotate)
        out_dir.mkdir(parents=True, exist_ok=True)
        for path, findings in results:
            if findings and not any(f.check_id.startswith("TH-S-") for f in findings):
                annotated[path] = out_dir / annotated_name(path.name)
                annotated[path].write_bytes(annotate_workbook(path.read_bytes(), findings, path.name))
    if args.format == "json":
        print(json_text([{
            "file": str(path),
            "outcome": REJECTED if any(f.severity == ERROR for f in findings) else ACCEPTED,
            "errors": sum(f.severity == ERROR for f in findings),
            "warnings": sum(f.severity == WARNING for f in findings),
            "annotated": str(annotated[path]) if path in annotated else None,
            "findings": [{k: v for k, v in f.as_dict().items() if k != "submission_id"} for f in findings],
        } for path, findings in results], indent=1))
        return EXIT_FINDINGS if any_error else EXIT_OK
    for path, findings in results:
        errors = [f for f in findings if f.severity == ERROR]
        verdict = "BỊ TỪ CHỐI" if errors else "HỢP LỆ"
        _say(f"{path}: {verdict} — {len(errors)} lỗi, {len(findings) - len(errors)} cảnh báo")
        for f in findings:
            where = f" [{f.sheet}!{f.cell}]" if f.sheet and f.cell else ""
            _say(f"  {SEVERITY_LABELS[f.severity]} {f.check_id}{where}: {f.message}")
        if path in annotated:
            _say(f"  Tệp đã đánh dấu các ô cần sửa: {annotated[path]}")
    return EXIT_FINDINGS if any_error else EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    import sqlalchemy as sa

    from tonghop.pipeline import run_period

    settings = _settings(args)
    _period(settings, args.period)
    if not is_s3(str(settings.inbox)) and not Path(settings.inbox).is_dir():
        raise UsageError(f"the inbox {settings.inbox} is not a folder: give --inbox or TONGHOP_INBOX (a folder, or "
                         f"s3://bucket/prefix)")
    at = dt.datetime.fromisoformat(args.at) if args.at else None
    if at is not None and at.tzinfo is None:
        at = at.replace(tzinfo=load_calendar(settings.calendar_path).timezone)
    summary = run_period(settings, args.period, progress=_progress, reprocess=args.reprocess, now=at)
    if not args.no_reports:  # what the tonghop_reports DAG does after each consolidation
        from tonghop.officer_files import publish_reports
        from tonghop.period import PeriodContext

        ctx = PeriodContext.open(settings, args.period)
        try:
            summary["reports"] = publish_reports(ctx)
        finally:
            ctx.close()
    if args.json:
        print(json_text(summary, default=str))
        return EXIT_OK
    ingest, ledger = summary["ingest"], summary["ledger"]
    _say(f"Period {summary['period']}: {ingest['new']} new of {ingest['files']} file(s) in the inbox. Ledger: "
         f"{ledger['received']} received = {ledger['accepted']} accepted + {ledger['rejected']} rejected + "
         f"{ledger['superseded']} superseded + {ledger['duplicate']} duplicate; "
         f"{summary['communes_accepted']}/{summary['expected']} communes in the roll-up. "
         f"Published to {sa.make_url(settings.warehouse).render_as_string(hide_password=True)}")
    for location in summary.get("reports", []):
        if location.endswith(".xlsx"):
            _say(f"Consolidated workbook: {location}")
    mail = summary.get("email", {})
    if "error" in mail:
        _say(f"E-mail NOT sent (they go out with the next run): {mail['error']}", file=sys.stderr)
    elif mail.get("email") != "off":
        _say(f"E-mail: {mail.get('sent', 0)} sent, {mail.get('already_sent', 0)} already sent before.")
    from tonghop.warehouse import Warehouse

    with Warehouse(settings.warehouse) as warehouse:
        _say(_scope_line(settings, args.period, warehouse.read_period_submissions(args.period)))
    return EXIT_OK


def cmd_import(args: argparse.Namespace) -> int:
    import sqlalchemy as sa

    from tonghop.history_import import HistoryImportError, import_history
    from tonghop.period import PeriodContext
    from tonghop.vocabulary import local_time

    settings = _settings(args)
    _period(settings, args.period)
    ctx = PeriodContext.open(settings, args.period)
    tz = ctx.calendar.timezone
    try:
        result = import_history(ctx, Path(args.manifest), args.by, args.reason,
                                consolidate=not args.no_consolidate, progress=_progress)
    except HistoryImportError as exc:
        raise UsageError(str(exc)) from None
    finally:
        ctx.close()
    for problem in result.problems:
        _say(f"tonghop import: skipped {problem}", file=sys.stderr)
    if args.json:
        print(json_text(result.__dict__, default=str))
        return EXIT_FINDINGS if result.problems else EXIT_OK
    _say(_import_summary(result, sa.make_url(settings.warehouse).render_as_string(hide_password=True)))
    for f in result.files:
        if f["errors"]:
            _say(f"Rejected: {f['file_name']} (commune {f['commune']}, received "
                 f"{local_time(f['received_at'], tz)}): {', '.join(f['errors'])}")
    return EXIT_FINDINGS if result.problems else EXIT_OK


def _import_summary(result: Any, warehouse: str) -> str:
    """One paragraph, as `tonghop run` prints: what was imported, what became of it, where it went."""
    head = (f"Period {result.period_id}, history from {result.manifest}: {result.rows} row(s), "
            f"{len(result.new)} file(s) imported now, {result.already} already imported before"
            f"{f', {len(result.resumed)} earlier import(s) finished' if result.resumed else ''}"
            f"{f', {len(result.problems)} row(s) skipped' if result.problems else ''}.")
    if not result.changed:
        return f"{head} Nothing changed in the ledger or the published figures ({warehouse})."
    files = result.files
    counts = {s: sum(f["status"] == s for f in files) for s in ("accepted", "rejected", "superseded", "duplicate")}
    on_time = sum(f["on_time"] for f in files)
    text = (f"{head} Imported files: {counts['accepted']} accepted + {counts['rejected']} rejected + "
            f"{counts['superseded']} superseded + {counts['duplicate']} duplicate; {on_time} received on time, "
            f"{len(files) - on_time} late (by their real received times).")
    if result.consolidation:
        c = result.consolidation
        version = f"version {c['version']}" + ("" if c["new_version"] else " (figures unchanged)")
        return (f"{text} {c['communes_accepted']}/{c['expected']} communes in the roll-up. "
                f"Published {version} to {warehouse}")
    if result.waiting:
        return (f"{text} Not consolidated: {result.waiting} other file(s) in the inbox are not processed yet; "
                f"`tonghop run --period {result.period_id}` processes them and consolidates.")
    return f"{text} Not consolidated (--no-consolidate): `tonghop run --period {result.period_id}` does it."


def cmd_report(args: argparse.Namespace) -> int:
    from tonghop.published import NotPublished
    from tonghop.spec import load_spec
    from tonghop.summary import format_table, read_summary
    from tonghop.warehouse import Warehouse

    settings = _settings(args)
    hierarchy = settings.hierarchy_for(_period(settings, args.period))
    if args.format in ("xlsx", "png") and not args.out:
        raise UsageError(f"--format {args.format} writes files: give --out")
    try:
        with Warehouse(settings.warehouse) as warehouse:
            if args.format in ("xlsx", "png"):
                return _write_officer_file(settings, warehouse, args)
            doc = read_summary(warehouse, load_spec(), hierarchy, args.period, args.unit)
    except NotPublished as exc:
        _say(f"Chưa có số liệu: {exc}.", file=sys.stderr)
        return EXIT_FINDINGS
    if args.format == "json":
        print(json_text(doc, indent=1, default=str))
    else:
        print(plain_lines(format_table(doc)))
    return EXIT_OK


def _write_officer_file(settings: Settings, warehouse: Any, args: argparse.Namespace) -> int:
    from tonghop.charts import render_all
    from tonghop.officer_workbook import workbook_bytes
    from tonghop.offices import load_offices
    from tonghop.published import load
    from tonghop.targets import load_targets

    data = load(warehouse, args.period, args.unit)
    targets = load_targets(settings.targets_path, settings.editions,
                           settings.edition_for(_period(settings, args.period)).id)
    out = Path(args.out)
    if args.format == "xlsx":
        out.parent.mkdir(parents=True, exist_ok=True)
        edition = settings.edition_for(_period(settings, args.period)).id
        out.write_bytes(workbook_bytes(data, targets, load_calendar(settings.calendar_path).timezone,
                                       load_offices(settings.offices_path), edition))
        _say(f"Biểu tổng hợp {data.period['name']} — {data.unit.name}: {out}")
        return EXIT_OK
    out.mkdir(parents=True, exist_ok=True)
    for kind, png in render_all(data, targets, load_calendar(settings.calendar_path).timezone).items():
        (out / f"{kind}.png").write_bytes(png)
        _say(f"Biểu đồ: {out / f'{kind}.png'}")
    return EXIT_OK


def cmd_warehouse(args: argparse.Namespace) -> int:
    import sqlalchemy as sa

    from tonghop.warehouse import Warehouse

    settings = _settings(args)
    if args.action == "dictionary":
        from tonghop.dictionary import data_dictionary

        print(data_dictionary(), end="")
        return EXIT_OK
    target = sa.make_url(settings.warehouse).render_as_string(hide_password=True)
    with Warehouse(settings.warehouse) as warehouse:
        if args.action == "migrate":
            warehouse.migrate(args.revision)
            _say(f"{target}: schema at revision {args.revision}")
        elif args.action == "grant-bi":
            if warehouse.dialect != "postgresql":
                raise UsageError("roles and grants need PostgreSQL")
            warehouse.grant_bi_role(args.role)
            _say(f"{target}: role {args.role} may read the BI views and nothing else")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tonghop", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress for engineers")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error instead of one line")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("template", help="blank pre-filled workbook(s) for a commune or every commune under a unit")
    p.add_argument("--period", required=True)
    p.add_argument("--unit", required=True, help="commune, district or province code")
    p.add_argument("--out", required=True, help="folder")
    p.set_defaults(func=cmd_template)

    p = sub.add_parser("sample", help="filled synthetic workbooks in the inbox layout, with a manifest")
    p.add_argument("--period", required=True)
    p.add_argument("--unit", required=True, help="commune, district or province code, or 'all'")
    p.add_argument("--out", required=True, help="inbox folder or s3://bucket/prefix")
    p.add_argument("--error-rate", type=float, default=0.0, help="share of reports with an injected error")
    p.add_argument("--warning-rate", type=float, default=0.0, help="share with an injected warning")
    p.add_argument("--late-rate", type=float, default=0.1, help="share received after the deadline")
    p.add_argument("--missing-rate", type=float, default=0.0, help="share of communes that send nothing")
    p.add_argument("--kinds", help="comma-separated mistake kinds (default: the common ones; see synth.MISTAKES)")
    p.add_argument("--seed", type=int, default=1)
    p.set_defaults(func=cmd_sample)

    p = sub.add_parser("fields", help="the template's fields")
    p.add_argument("--format", choices=("table", "json"), default="table")
    p.set_defaults(func=cmd_fields)

    p = sub.add_parser("fill", help="a workbook filled from field values (JSON keyed by field key)")
    p.add_argument("--period", required=True)
    p.add_argument("--unit", required=True, help="commune code")
    p.add_argument("--values", required=True)
    p.add_argument("--out", required=True, help="file.xlsx")
    p.set_defaults(func=cmd_fill)

    p = sub.add_parser("check", help="validate workbooks offline; exit 1 when any has an error")
    p.add_argument("files", nargs="+")
    p.add_argument("--period", help="period the files are for (default: the one each workbook names)")
    p.add_argument("--unit", help="commune the files were submitted for (default: the one each names)")
    p.add_argument("--received-at", help="ISO time of receipt for the open-period check (default: the deadline)")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.add_argument("--annotate", metavar="DIR", help="write a copy of each workbook with findings, cells marked")
    p.set_defaults(func=cmd_check, libraries=CHECK_LIBRARIES)

    p = sub.add_parser("run", help="process a whole period in-process (no scheduler); e-mails when smtp_default "
                                    "is configured")
    p.add_argument("--period", required=True)
    p.add_argument("--reprocess", action="store_true", help="re-validate every file, not only the new ones")
    p.add_argument("--json", action="store_true", help="print the run summary (counts, seconds per stage) as JSON")
    p.add_argument("--inbox", help="folder or s3://bucket/prefix (S3 through the aws_default connection)")
    p.add_argument("--output", help="folder or s3://bucket/prefix for annotated workbooks, Data Docs, summaries")
    p.add_argument("--warehouse", help="SQLAlchemy URL")
    p.add_argument("--scope", help="unit code to consolidate alone (a province or district; default TONGHOP_SCOPE, "
                                   "else the whole country)")
    p.add_argument("--no-reports", action="store_true",
                   help="skip the consolidated workbooks and charts (the tonghop_reports DAG's work)")
    p.add_argument("--at", help="ISO time the run stands for, as a DAG run's logical date does: the e-mails due "
                                "then are sent (default: now)")
    p.set_defaults(func=cmd_run, libraries=PERIOD_LIBRARIES)

    p = sub.add_parser("import", help="load a past period's files with the times they really arrived "
                                       "(recorded as imported, with who and why)")
    p.add_argument("--period", required=True)
    p.add_argument("--manifest", required=True,
                   help="CSV with the columns file (relative to the manifest's folder, or absolute), commune_code, "
                        "received_at (ISO 8601; without an offset: the calendar's local time)")
    p.add_argument("--by", required=True, help="who imports the files (recorded with each)")
    p.add_argument("--reason", required=True, help="why they are imported (recorded with each)")
    p.add_argument("--no-consolidate", action="store_true", help="record and validate only; publish later")
    p.add_argument("--json", action="store_true", help="print the import's result as JSON")
    p.add_argument("--inbox", help="folder or s3://bucket/prefix (S3 through the aws_default connection)")
    p.add_argument("--output", help="folder or s3://bucket/prefix for annotated workbooks, Data Docs, summaries")
    p.add_argument("--warehouse", help="SQLAlchemy URL")
    p.set_defaults(func=cmd_import, libraries=PERIOD_LIBRARIES)

    p = sub.add_parser("warehouse", help="schema migrations, the BI role, the data dictionary")
    p.add_argument("action", choices=("migrate", "grant-bi", "dictionary"))
    p.add_argument("--warehouse", help="SQLAlchemy URL")
    p.add_argument("--revision", default="head", help="migrate to this Alembic revision (default head)")
    p.add_argument("--role", default="tonghop_bi", help="grant-bi: the (existing) role BI tools log in as")
    p.set_defaults(func=cmd_warehouse)

    p = sub.add_parser("report", help="published figures of a unit with its completeness")
    p.add_argument("--period", required=True)
    p.add_argument("--unit", required=True)
    p.add_argument("--format", choices=("table", "json", "xlsx", "png"), default="table",
                   help="table or json on screen; xlsx: the consolidated workbook into --out FILE; "
                        "png: the charts into the folder --out DIR")
    p.add_argument("--out", help="file (xlsx) or folder (png) to write")
    p.add_argument("--warehouse", help="SQLAlchemy URL")
    p.set_defaults(func=cmd_report, libraries=REPORT_LIBRARIES)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    level = logging.INFO if args.verbose else logging.WARNING
    handler = logging.StreamHandler()
    handler.setFormatter(_PlainFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=level, handlers=[handler])
    logging.getLogger("tonghop").setLevel(level)  # Airflow's imports configure the root logger at INFO
    import_paused(getattr(args, "libraries", ()))  # what the command will import, before it starts
    try:
        return args.func(args)
    except (UsageError, EditionError) as exc:
        _say(f"tonghop: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except Exception as exc:
        explained = None if args.debug else explain_failure(exc, getattr(args, "warehouse", None))
        if explained is None:  # a bug: the traceback is what an engineer needs
            raise
        _say(f"tonghop: {explained} (--debug shows the traceback)", file=sys.stderr)
        return EXIT_USAGE


def explain_failure(exc: BaseException, warehouse_url: str | None = None) -> str | None:
    """One line for an error the user can fix — the warehouse, S3, a file, the configuration: what is wrong and
    what to do. None for anything else (a bug), which keeps its traceback."""
    if type(exc).__module__.startswith("sqlalchemy"):
        return _warehouse_failure(exc, warehouse_url)
    if type(exc).__module__.startswith(("botocore", "boto3")):
        return (f"S3 failed: {_first_line(exc)}; check the endpoint, the bucket and the credentials of the "
                f"aws_default connection (AIRFLOW_CONN_AWS_DEFAULT)")
    if isinstance(exc, OSError) and exc.filename:
        return f"{exc.strerror or _first_line(exc)}: {exc.filename}"
    if isinstance(exc, YamlFileError):
        return str(exc)
    return None


def _warehouse_failure(exc: BaseException, warehouse_url: str | None) -> str | None:
    import sqlalchemy as sa

    try:
        where = warehouse_url or Settings.from_env().warehouse
        where = sa.make_url(where).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - the URL is only named in the message; a broken one stays as given
        where = warehouse_url or "(from TONGHOP_WAREHOUSE_URL)"
    if isinstance(exc, sa.exc.ArgumentError | sa.exc.NoSuchModuleError):
        return (f"the warehouse URL {where!r} is not one SQLAlchemy can use ({_first_line(exc)}); give --warehouse "
                f"or TONGHOP_WAREHOUSE_URL, e.g. sqlite:///var/tonghop.sqlite or "
                f"postgresql+psycopg://user@host:5432/tonghop")
    if isinstance(exc, sa.exc.OperationalError | sa.exc.InterfaceError):
        reason = _first_line(getattr(exc, "orig", None) or exc)
        return (f"cannot use the warehouse {where}: {reason}; check that the server runs and answers, that the "
                f"database exists and that this user may connect")
    return None


def _first_line(exc: object) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


if __name__ == "__main__":
    raise SystemExit(main())
