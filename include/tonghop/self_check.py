"""The commune workbook's own check: the rules Excel can express, as live formulas generated from the same
expectation suites and derived columns that validate a received file (expectations/), so the officer sees
them fail while typing instead of in an e-mail after sending.

A rule is an expectation comparing two columns (a = b, a ≥ b) or bounding one (between), on the `reports`
frame or on a grid sheet's frame (one rule per sheet row), whose columns are template fields or derived
columns built from them with + − × ÷ and abs(). Anything else (a previous period's figures, text patterns,
the lists of codes) stays with the server's validation. Like the suites, a rule whose inputs are not all
numbers yet is not judged ("Chưa đủ số liệu"), and a row condition on a Có/Không field limits where it applies.

The workbook gets a "Tự kiểm tra" sheet listing each rule with Đạt / Chưa đạt, a defined name per rule
pointing at its verdict (TRUE when it holds or is not judged yet), and a conditional format on every cell the
rule names that turns it red while the rule fails. Money is compared to the thousandth of a million VND,
as the suites compare whole thousands.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Mapping, Sequence
from copy import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from openpyxl.formatting.rule import FormulaRule, Rule
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.styles.differential import DifferentialStyle
from openpyxl.workbook.defined_name import DefinedName
from openpyxl.workbook.workbook import Workbook

from tonghop.findings import load_catalogue
from tonghop.spec import Field, Section, TemplateSpec
from tonghop.yamlfile import read_yaml

PAIR_EQUAL = "expect_column_pair_values_to_be_equal"
PAIR_GREATER = "expect_column_pair_values_a_to_be_greater_than_b"
BETWEEN = "expect_column_values_to_be_between"
NUMERIC_TYPES = ("count", "amount", "rate")
YES, NO = "Có", "Không"
PASSED, FAILED, INCOMPLETE = "Đạt", "Chưa đạt", "Chưa đủ số liệu"
FIRST_ROW = 5  # the rules start below the title, the note and the header
RED = PatternFill("solid", fgColor="FFC7CE")
LINE_HEIGHT, CHARACTERS_PER_LINE = 16.5, 90  # points per line of 12-point Times; characters in the 80-wide column
RED_FONT = Font(color="9C0006", bold=True)


class _Untranslatable(ValueError):
    """A column or expression that Excel cannot compute from the workbook's own cells."""


@dataclass(frozen=True)
class SelfCheckRule:
    check_id: str
    title: str  # Vietnamese, as printed on the sheet
    condition: str  # Excel expression, TRUE when the rule holds
    inputs: tuple[str, ...]  # absolute references of the numbers it needs; any blank: not judged yet
    marked: tuple[tuple[str, str], ...]  # (sheet, cell) turned red while it fails

    @property
    def verdict(self) -> str:
        """TRUE when the rule holds or cannot be judged yet (the conditional formats test this)."""
        return f"OR(COUNT({','.join(self.inputs)})<{len(self.inputs)},{self.condition})"

    @property
    def result(self) -> str:
        return (f'=IF(COUNT({",".join(self.inputs)})<{len(self.inputs)},"{INCOMPLETE}",'
                f'IF({self.condition},"{PASSED}","{FAILED}"))')


def _ref(sheet: str, cell: str) -> str:
    column = cell.rstrip("0123456789")
    return f"'{sheet}'!${column}${cell[len(column):]}"


class _Columns:
    """A frame's columns for one of its rows, as Excel expressions over the workbook's cells."""

    def __init__(self, spec: TemplateSpec, derived: Mapping[str, Mapping[str, str]], frame: str,
                 row: str | None = None, joins: tuple[str, ...] = ()) -> None:
        self.spec, self.derived, self.frame, self.row, self.joins = spec, derived, frame, row, joins
        self.section = next((s for s in spec.sections if s.key == frame), None) if row else None
        self.inputs: list[str] = []
        self.amounts = False

    def field(self, f: Field) -> str:
        if f.type not in NUMERIC_TYPES:
            raise _Untranslatable(f.key)
        ref = _ref(f.sheet, f.cell)
        if ref not in self.inputs:
            self.inputs.append(ref)
        self.amounts |= f.type == "amount"
        return ref

    def grid_field(self, row: str, column: str) -> Field:
        for f in self.section.fields:
            if f.grid_row == row and f.grid_column == column:
                return f
        raise _Untranslatable(f"{self.frame}: {row}/{column}")

    def column(self, name: str) -> str:
        if name in self.derived.get(self.frame, {}):
            return f"({self.expression(self.derived[self.frame][name])})"
        if self.section is None:  # the reports frame: one column per field
            if name not in self.spec.by_key:
                raise _Untranslatable(name)
            return self.field(self.spec.by_key[name])
        if name in self.joins:  # a report-level column beside each row
            reports = _Columns(self.spec, self.derived, "reports")
            text = reports.column(name)
            self.inputs += [i for i in reports.inputs if i not in self.inputs]
            self.amounts |= reports.amounts
            return text
        if name.endswith("__rows_sum") and self.row == "total":
            base = name.removesuffix("__rows_sum")
            return f"SUM({','.join(self.field(self.grid_field(r.key, base)) for r in self.section.grid_rows)})"
        return self.field(self.grid_field(self.row, name))

    def expression(self, text: str) -> str:
        return self._node(ast.parse(text, mode="eval").body)

    def _node(self, node: ast.AST) -> str:
        operators = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/"}
        if isinstance(node, ast.Name):
            return self.column(node.id)
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
            return repr(node.value)
        if isinstance(node, ast.BinOp) and type(node.op) in operators:
            return f"({self._node(node.left)}{operators[type(node.op)]}{self._node(node.right)})"
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return f"(-{self._node(node.operand)})"
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "abs" and len(node.args) == 1:
            return f"ABS({self._node(node.args[0])})"
        raise _Untranslatable(ast.dump(node))


def _condition(kind: str, kwargs: Mapping[str, Any], columns: _Columns) -> str:
    if kind in (PAIR_EQUAL, PAIR_GREATER):
        difference = f"ROUND({columns.column(kwargs['column_A'])}-{columns.column(kwargs['column_B'])},3)"
        if kind == PAIR_EQUAL:
            return f"{difference}=0"
        return f"{difference}>=0" if kwargs.get("or_equal") else f"{difference}>0"
    if kind == BETWEEN:
        value = columns.column(kwargs["column"])
        bounds = [(kwargs.get("min_value"), ">="), (kwargs.get("max_value"), "<=")]
        if columns.amounts and any(b not in (None, 0) for b, _ in bounds):
            raise _Untranslatable("a bound on money in the frames' thousandths")
        parts = [f"{value}{op}{bound!r}" for bound, op in bounds if bound is not None]
        return parts[0] if len(parts) == 1 else f"AND({','.join(parts)})"
    raise _Untranslatable(kind)


def _rows(spec: TemplateSpec, frame: str) -> list[str | None]:
    if frame == "reports":
        return [None]
    section = next((s for s in spec.sections if s.key == frame), None)
    if section is None or not section.is_grid:
        return []
    return [r.key for r in section.grid_rows] + (["total"] if any(f.grid_row == "total" for f in section.fields)
                                                 else [])


def _applies(condition: Mapping[str, Any] | None, row: str | None, columns: _Columns) -> str | None:
    """None: the rule applies to this row; "": it does not; else the Excel condition under which it applies."""
    if not condition:
        return None
    if condition.get("type") != "comparison" or condition.get("operator") not in ("==", "!="):
        raise _Untranslatable(str(condition))
    name, wanted, equal = condition["column"]["name"], condition["parameter"], condition["operator"] == "=="
    if name == "row":
        return None if (row == wanted) == equal else ""
    f = columns.grid_field(row, name) if columns.section else columns.spec.by_key.get(name)
    if f is None or not isinstance(wanted, bool):
        raise _Untranslatable(name)
    text = YES if wanted == equal else NO
    return f'{_ref(f.sheet, f.cell)}="{text}"'


def _title(spec: TemplateSpec, base: str, kind: str, kwargs: Mapping[str, Any], section: Section | None,
           row: str | None, several: bool) -> str:
    if section is not None and row is not None:
        label = next((r.label for r in section.grid_rows if r.key == row), "Tổng cộng")
        if several:  # e.g. poor and near-poor households of the same row: the compared cell's own label
            column = kwargs.get("column_B") or kwargs.get("column")
            label = next((f.label for f in section.fields if f.grid_row == row and f.grid_column == column), label)
        return f"{base} — {section.sheet}: {label}"
    if several:
        column = kwargs.get("column_B") or kwargs.get("column")
        f = spec.by_key.get(column)
        return f"{base} — {f.label if f else column}"
    return base


_RULES: dict[tuple[int, Path], tuple[TemplateSpec, tuple[SelfCheckRule, ...]]] = {}


def workbook_rules(spec: TemplateSpec, expectations_dir: Path) -> tuple[SelfCheckRule, ...]:
    """Every rule of the suites that the workbook can compute, in suite order (worked out once per spec: the
    sample generator writes thousands of workbooks)."""
    key = (id(spec), Path(expectations_dir))
    if key not in _RULES:
        _RULES[key] = (spec, _translate(spec, Path(expectations_dir)))  # the spec kept: its id stays its own
    return _RULES[key][1]


def _translate(spec: TemplateSpec, expectations_dir: Path) -> tuple[SelfCheckRule, ...]:
    catalogue = load_catalogue(expectations_dir)
    derived = read_yaml(Path(expectations_dir) / "derived_columns.yaml")
    rules = []
    for path in sorted(Path(expectations_dir).glob("*.json")):
        suite = json.loads(path.read_text(encoding="utf-8"))
        frame, joins = suite["meta"]["frame"], tuple(suite["meta"].get("join", []))
        per_check: dict[str, int] = {}
        for expectation in suite["expectations"]:
            check_id = expectation.get("meta", {}).get("check_id")
            per_check[check_id] = per_check.get(check_id, 0) + 1
        for expectation in suite["expectations"]:
            kind, kwargs, meta = expectation["type"], expectation.get("kwargs", {}), expectation.get("meta", {})
            check_id = meta.get("check_id")
            if kind not in (PAIR_EQUAL, PAIR_GREATER, BETWEEN) or check_id not in catalogue:
                continue
            for row in _rows(spec, frame):
                columns = _Columns(spec, derived, frame, row, joins)
                try:
                    applies = _applies(kwargs.get("row_condition"), row, columns)
                    if applies == "":
                        continue
                    condition = _condition(kind, kwargs, columns)
                except _Untranslatable:
                    continue
                if applies:
                    condition = f"OR(NOT({applies}),{condition})"
                marked = []
                for key in meta.get("fields", []):
                    f = spec.by_key.get(key.format(row=row))
                    if f is not None:
                        marked.append((f.sheet, f.cell))
                rules.append(SelfCheckRule(
                    check_id, _title(spec, catalogue[check_id].title, kind, kwargs, columns.section, row,
                                     per_check[check_id] > 1),
                    condition, tuple(columns.inputs), tuple(dict.fromkeys(marked))))
    return tuple(rules)


def self_check_formulas(spec: TemplateSpec, expectations_dir: Path) -> dict[str, str]:
    """cell → formula of the self-check sheet (the annotated copy keeps them where the sender did)."""
    out = {}
    for i, rule in enumerate(workbook_rules(spec, expectations_dir)):
        out[f"D{FIRST_ROW + i}"], out[f"E{FIRST_ROW + i}"] = rule.result, f"={rule.verdict}"
    return out


def _by_sheet(cells: Sequence[tuple[str, str]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for sheet, cell in cells:
        out.setdefault(sheet, []).append(cell)
    return out


def add_self_check(wb: Workbook, spec: TemplateSpec, expectations_dir: Path, fonts: Mapping[str, Font]) -> None:
    """The self-check sheet, its defined names and the red conditional formats on the rules' cells."""
    layout = spec.self_check
    ws = wb.create_sheet(layout["sheet"])
    ws["A1"], ws["A2"] = layout["title"], layout["note"]
    ws["A1"].font, ws["A2"].font = fonts["title"], fonts["hint"]
    ws["A2"].alignment = Alignment(wrap_text=True, vertical="top")
    ws.merge_cells("A2:D2")
    ws.row_dimensions[2].height = 48
    thin = Side(style="thin", color="808080")
    border = Border(left=thin, right=thin, top=thin, bottom=thin)
    for column, (text, width) in zip("ABCD", layout["columns"], strict=True):
        cell = ws[f"{column}{FIRST_ROW - 1}"]
        cell.value, cell.font, cell.border = text, fonts["bold"], border
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
        cell.fill = PatternFill("solid", fgColor="BDD7EE")
        ws.column_dimensions[column].width = width
    ws.column_dimensions["E"].hidden = True
    formulas = self_check_formulas(spec, expectations_dir)
    # The first rule's cells are styled once; the others copy their style (openpyxl would otherwise compare each
    # new font, border and alignment with every one the workbook has: most of a sample workbook's writing time).
    prototypes = [ws[f"{column}{FIRST_ROW}"] for column in "ABCD"]
    for column, cell in zip("ABCD", prototypes, strict=True):
        cell.font, cell.border = fonts["body"], border
        cell.alignment = Alignment(wrap_text=True, vertical="center", horizontal="left" if column == "C" else "center")
    red = DifferentialStyle(fill=RED)  # one style for every rule's red cells
    for i, rule in enumerate(workbook_rules(spec, expectations_dir)):
        row = FIRST_ROW + i
        ws[f"A{row}"], ws[f"B{row}"], ws[f"C{row}"] = i + 1, rule.check_id, rule.title
        ws[f"D{row}"], ws[f"E{row}"] = formulas[f"D{row}"], formulas[f"E{row}"]
        # Wrapped text gets the height it needs (Excel and LibreOffice do not grow rows written by a program).
        ws.row_dimensions[row].height = LINE_HEIGHT * max(1, -(-len(rule.title) // CHARACTERS_PER_LINE))
        for column, prototype in zip("ABCD", prototypes, strict=True):
            ws[f"{column}{row}"]._style = copy(prototype._style)
        name = f"TuKiemTra_{i + 1:03d}"
        wb.defined_names[name] = DefinedName(name, attr_text=f"'{layout['sheet']}'!$E${row}")
        for sheet, cells in _by_sheet(rule.marked).items():
            wb[sheet].conditional_formatting.add(" ".join(cells), Rule(type="expression", formula=[f"NOT({name})"],
                                                                       dxf=red))
    last = FIRST_ROW + len(workbook_rules(spec, expectations_dir)) - 1
    ws.conditional_formatting.add(f"D{FIRST_ROW}:D{last}",
                                  FormulaRule(formula=[f'D{FIRST_ROW}="{FAILED}"'], fill=RED, font=RED_FONT))
    ws.sheet_view.showGridLines = False
    ws.print_title_rows = f"{FIRST_ROW - 1}:{FIRST_ROW - 1}"
    ws.page_setup.paperSize, ws.page_setup.orientation = ws.PAPERSIZE_A4, "portrait"
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.page_setup.fitToWidth, ws.page_setup.fitToHeight = 1, 0
    ws.oddFooter.center.text = "Trang &P / &N"
    ws.protection.sheet = True
