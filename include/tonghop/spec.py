"""The workbook template spec: every field of the commune report, read from one YAML file.

The generator, the parser, validation and the warehouse schema all go through `load_spec()`;
no other module knows a cell address.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from openpyxl.utils.cell import (
    column_index_from_string,
    coordinate_from_string,
    get_column_letter,
    range_boundaries,
)

from tonghop.yamlfile import read_yaml

SPEC_PATH = Path(__file__).with_name("resources") / "template_spec.yaml"

NUMERIC_TYPES = frozenset({"count", "amount", "rate"})
FIELD_TYPES = NUMERIC_TYPES | {"yesno", "code", "text", "email", "phone", "date", "period"}


@dataclass(frozen=True)
class Field:
    key: str
    section: str
    sheet: str
    cell: str
    label: str
    type: str
    unit: str | None = None
    required: bool = False
    min: float | None = None
    max: float | None = None
    decimals: int | None = None
    number_format: str | None = None
    # Name of the value the generator writes into a locked cell (template_version, period_id, ...).
    prefilled: str | None = None
    # Administrative level a code field refers to.
    level: str | None = None
    # An Excel formula: the cell is computed, the parser reads the cached value when there is one.
    formula: str | None = None
    # Where the field sits in a grid section (row key, column key), for long tables in the warehouse.
    grid_row: str | None = None
    grid_column: str | None = None

    @property
    def is_input(self) -> bool:
        return self.prefilled is None and self.formula is None

    @property
    def is_numeric(self) -> bool:
        return self.type in NUMERIC_TYPES

    @functools.cached_property
    def position(self) -> tuple[int, int]:
        """(row, column) of the cell, counted from 0."""
        return cell_position(self.cell)

    @property
    def row(self) -> int:
        return coordinate_from_string(self.cell)[1]

    @property
    def column(self) -> str:
        return coordinate_from_string(self.cell)[0]

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "sheet": self.sheet,
            "cell": self.cell,
            "label": self.label,
            "type": self.type,
            "unit": self.unit,
            "required": self.required,
            "min": self.min,
            "max": self.max,
            "decimals": self.decimals,
            "input": self.is_input,
            "prefilled": self.prefilled,
            "formula": self.formula,
        }


@dataclass(frozen=True)
class GridRow:
    key: str
    row: int
    label: str
    number: str | None = None
    group: str | None = None
    unit: str | None = None


@dataclass(frozen=True)
class Section:
    key: str
    sheet: str
    title: str
    header_row: int
    layout: dict[str, str]
    headers: dict[str, str]
    merges: tuple[str, ...]
    notes: tuple[dict[str, Any], ...]
    formulas: tuple[dict[str, Any], ...]
    fields: tuple[Field, ...]
    grid_rows: tuple[GridRow, ...] = ()
    grid_columns: tuple[str, ...] = ()
    unit_note: str | None = None
    # Per-field presentation: row labels, STT numbers, groups (not part of a field's identity).
    row_texts: tuple[dict[str, Any], ...] = ()

    @property
    def is_grid(self) -> bool:
        return bool(self.grid_rows)

    def formula_cells(self) -> list[tuple[str, str, str | None]]:
        """(cell, formula, number_format) for every display formula, ranges expanded."""
        out = []
        for item in self.formulas:
            if "cell" in item:
                out.append((item["cell"], item["formula"], item.get("number_format")))
                continue
            min_col, min_row, max_col, max_row = range_boundaries(item["range"])
            for row in range(min_row, max_row + 1):
                for col in range(min_col, max_col + 1):
                    cell = f"{get_column_letter(col)}{row}"
                    out.append((cell, item["formula"].format(row=row), item.get("number_format")))
        return out


@dataclass(frozen=True)
class TemplateVersion:
    version: str
    map_levels: tuple[str, ...]  # the levels of the map it is made for
    omits: frozenset[str] = frozenset()  # field keys it does not have


@dataclass(frozen=True)
class LabelCell:
    """A header or row label the template prints: the parser checks it is still there (no inserted column or row)."""

    sheet: str
    ref: str
    position: tuple[int, int]  # (row, column) from 0
    text: str
    optional: bool  # on a row some template version leaves out (the district rows of 2.0): may be empty


def cell_position(ref: str) -> tuple[int, int]:
    """(row, column) of a cell reference such as "D7", counted from 0."""
    letter, row = coordinate_from_string(ref)
    return row - 1, column_index_from_string(letter) - 1


@dataclass(frozen=True)
class TemplateSpec:
    template_id: str
    versions: tuple[TemplateVersion, ...]
    title: str
    property_name: str
    sections: tuple[Section, ...]
    fields: tuple[Field, ...] = field(default=())
    instructions_sheet: str = "Hướng dẫn"
    instructions: tuple[dict[str, Any], ...] = ()
    # The "Tự kiểm tra" sheet (tonghop.self_check): sheet name, title, note, columns (header, width).
    self_check: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
    # The printed form (tonghop.print_layout): issuer lines, the signed section, place and date, signers.
    printing: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    @functools.cached_property
    def by_key(self) -> dict[str, Field]:
        return {f.key: f for f in self.fields}

    @property
    def supported_versions(self) -> tuple[str, ...]:
        return tuple(v.version for v in self.versions)

    @property
    def version(self) -> str:
        """The newest version."""
        return self.versions[-1].version

    def version_for(self, map_levels: Sequence[str]) -> TemplateVersion:
        """The newest version made for a map with these levels (a period's map edition): what is handed out."""
        fitting = self.versions_for(map_levels)
        if not fitting:
            raise ValueError(f"template spec: no version for a map with levels {tuple(map_levels)}")
        return fitting[-1]

    def versions_for(self, map_levels: Sequence[str]) -> tuple[TemplateVersion, ...]:
        """Every version made for a map with these levels, oldest first: all are accepted for its periods."""
        return tuple(v for v in self.versions if v.map_levels == tuple(map_levels))

    def omitted(self, version: str) -> frozenset[str]:
        return next((v.omits for v in self.versions if v.version == version), frozenset())

    def section(self, key: str) -> Section:
        for s in self.sections:
            if s.key == key:
                return s
        raise KeyError(key)

    @property
    def sheet_names(self) -> list[str]:
        return [s.sheet for s in self.sections]

    def fields_of(self, section: str) -> list[Field]:
        return [f for f in self.fields if f.section == section]

    def input_fields(self) -> list[Field]:
        return [f for f in self.fields if f.is_input]

    @functools.cached_property
    def inputs_by_sheet(self) -> dict[str, tuple[Field, ...]]:
        by_sheet: dict[str, list[Field]] = {}
        for f in self.input_fields():
            by_sheet.setdefault(f.sheet, []).append(f)
        return {sheet: tuple(fields) for sheet, fields in by_sheet.items()}

    @functools.cached_property
    def label_cells(self) -> tuple[LabelCell, ...]:
        """Every header and row label of the template, where it prints it."""
        optional = {(f.sheet, f.row) for v in self.versions for f in self.fields if f.key in v.omits}
        cells = []
        for section in self.sections:
            expected = dict(section.headers)
            label_column = section.layout.get("label_column")
            if label_column:
                expected.update({f"{label_column}{t['row']}": t["label"] for t in section.row_texts if t.get("label")})
            for ref, text in expected.items():
                position = cell_position(ref)
                cells.append(LabelCell(section.sheet, ref, position, text,
                                       (section.sheet, position[0] + 1) in optional))
        return tuple(cells)

    def cell_of(self, key: str) -> str:
        f = self.by_key[key]
        return f"'{f.sheet}'!{f.cell}"


def _field(section: dict, raw: dict, types: dict, **extra: Any) -> Field:
    ftype = raw["type"]
    if ftype not in FIELD_TYPES:
        raise ValueError(f"field {raw['key']}: unknown type {ftype!r}")
    defaults = types.get(ftype, {})
    return Field(
        key=raw["key"],
        section=section["key"],
        sheet=section["sheet"],
        cell=raw["cell"],
        label=raw["label"],
        type=ftype,
        unit=raw.get("unit"),
        required=bool(raw.get("required", False)),
        min=raw.get("min", defaults.get("min")),
        max=raw.get("max", defaults.get("max")),
        decimals=raw.get("decimals", defaults.get("decimals")),
        number_format=raw.get("number_format", defaults.get("number_format")),
        prefilled=raw.get("prefilled"),
        level=raw.get("level"),
        formula=raw.get("formula"),
        **extra,
    )


def _parse_section(raw: dict, types: dict) -> Section:
    fields: list[Field] = []
    row_texts: list[dict[str, Any]] = []
    for f in raw.get("fields", []):
        fields.append(_field(raw, f, types))
        if f.get("show_label", True):
            row_texts.append(
                {
                    "row": coordinate_from_string(f["cell"])[1],
                    "number": f.get("number"),
                    "label": f.get("row_label", f["label"]),
                    "unit": f.get("unit"),
                }
            )
    grid_rows: list[GridRow] = []
    grid_columns: list[str] = []
    grid = raw.get("grid")
    if grid:
        defaults = grid.get("defaults", {})
        grid_columns = [c["key"] for c in grid["columns"]]
        for r in grid["rows"]:
            row = GridRow(
                key=r["key"],
                row=r["row"],
                label=r["label"],
                number=r.get("number"),
                group=r.get("group"),
                unit=r.get("unit", defaults.get("unit")),
            )
            grid_rows.append(row)
            row_texts.append({"row": row.row, "number": row.number, "label": row.label,
                              "unit": row.unit, "group": row.group})
            for c in grid["columns"]:
                merged = {**defaults, **c, **{k: v for k, v in r.items() if k not in ("key", "row", "label")}}
                merged.update(
                    key=grid["key"].format(row=r["key"], column=c["key"]),
                    cell=f"{c['column']}{r['row']}",
                    label=f"{r['label']} — {c['label']}",
                )
                fields.append(_field(raw, merged, types, grid_row=r["key"], grid_column=c["key"]))
        total = raw.get("total_row")
        if total:
            row_texts.append({"row": total["row"], "number": None, "label": total["label"], "unit": None,
                              "bold": True})
            for c in grid["columns"]:
                if c.get("type", defaults.get("type")) not in NUMERIC_TYPES:
                    continue
                merged = {**defaults, **c}
                merged.update(
                    key=total["key"].format(column=c["key"]),
                    cell=f"{c['column']}{total['row']}",
                    label=f"{total['label']} — {c['label']}",
                    formula=total["formula"].format(column=c["column"]),
                    required=False,
                )
                fields.append(_field(raw, merged, types, grid_row="total", grid_column=c["key"]))
    return Section(
        key=raw["key"],
        sheet=raw["sheet"],
        title=raw["title"],
        header_row=raw["header_row"],
        layout=raw.get("layout", {}),
        headers=raw.get("headers", {}),
        merges=tuple(raw.get("merges", ())),
        notes=tuple(raw.get("notes", ())),
        formulas=tuple(raw.get("formulas", ())),
        fields=tuple(fields),
        grid_rows=tuple(grid_rows),
        grid_columns=tuple(grid_columns),
        unit_note=raw.get("unit_note"),
        row_texts=tuple(row_texts),
    )


@functools.cache
def load_spec(path: Path | str = SPEC_PATH) -> TemplateSpec:
    raw = read_yaml(path)
    types = raw.get("types", {})
    sections = tuple(_parse_section(s, types) for s in raw["sections"])
    fields = tuple(f for s in sections for f in s.fields)
    keys = [f.key for f in fields]
    dupes = {k for k in keys if keys.count(k) > 1}
    if dupes:
        raise ValueError(f"template spec: duplicate field keys {sorted(dupes)}")
    cells = [(f.sheet, f.cell) for f in fields]
    if len(set(cells)) != len(cells):
        raise ValueError("template spec: two fields share a cell")
    t = raw["template"]
    return TemplateSpec(
        template_id=t["id"],
        versions=tuple(TemplateVersion(str(v), tuple(d["map_levels"]), frozenset(d.get("omits", ())))
                       for v, d in t["versions"].items()),
        title=t["title"],
        property_name=t["property_name"],
        sections=sections,
        fields=fields,
        instructions_sheet=raw["instructions"]["sheet"],
        instructions=tuple(raw["instructions"]["lines"]),
        self_check=raw.get("self_check", {}),
        printing=raw.get("print", {}),
    )
