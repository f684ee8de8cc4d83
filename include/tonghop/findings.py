"""Findings: what is wrong with a report, where, and how to say it in Vietnamese."""

from __future__ import annotations

import functools
import string
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tonghop.safety import clean_text
from tonghop.yamlfile import read_yaml

if TYPE_CHECKING:
    from tonghop.inbox import InboxFile

ERROR, WARNING = "error", "warning"
SEVERITY_LABELS = {ERROR: "Lỗi", WARNING: "Cảnh báo"}


@dataclass(frozen=True)
class Check:
    id: str
    severity: str
    title: str
    message: str
    expected: str | None = None  # what the cell should hold, when the finding has no computed expectation


@dataclass(frozen=True)
class Finding:
    submission_id: str
    check_id: str
    severity: str
    message: str
    sheet: str | None = None
    cell: str | None = None  # every cell involved, comma-separated ("D11, D7, D8")
    field_key: str | None = None
    label: str | None = None
    value: str | None = None
    expected: str | None = None
    commune_code: str | None = None  # the commune the file was submitted for
    file_name: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def placed(self, item: InboxFile) -> Finding:
        """This finding, naming the commune the file was submitted for and the file's name."""
        return replace(self, commune_code=item.submitted_for, file_name=item.file_name)


class _Lenient(dict):
    def __missing__(self, key: str) -> str:
        return "?"


@functools.cache
def load_catalogue(expectations_dir: Path) -> dict[str, Check]:
    raw = read_yaml(Path(expectations_dir) / "checks.yaml")
    checks = {}
    for check_id, item in raw.items():
        if item["severity"] not in (ERROR, WARNING):
            raise ValueError(f"{check_id}: severity must be {ERROR} or {WARNING}")
        checks[check_id] = Check(check_id, item["severity"], item["title"], item["message"], item.get("expected"))
    return checks


MAX_QUOTED = 1000  # characters of one value quoted into a message (a cell may hold 32,767)


def _quoted(value: Any) -> Any:
    if value is None:
        return ""
    return clean_text(value, keep_newlines=False)[:MAX_QUOTED] if isinstance(value, str) else value


def render(template: str, context: Mapping[str, Any]) -> str:
    return string.Formatter().vformat(template, (), _Lenient({k: _quoted(v) for k, v in context.items()}))


def make_finding(check: Check, submission_id: str, context: Mapping[str, Any], *,
                 sheet: str | None = None, cells: list[str] | None = None, field_key: str | None = None,
                 label: str | None = None) -> Finding:
    if check.expected and context.get("expected") in (None, ""):
        context = {**context, "expected": render(check.expected, context)}
    text = render(check.message, context)
    if sheet:
        text = f"Trang «{sheet}»: {text}"
    return Finding(
        submission_id=submission_id,
        check_id=check.id,
        severity=check.severity,
        message=text,
        sheet=sheet,
        cell=", ".join(cells) if cells else None,
        field_key=field_key,
        label=label,
        value=None if context.get("value") in (None, "") else _quoted(str(context["value"])),
        expected=None if context.get("expected") in (None, "") else _quoted(str(context["expected"])),
    )
