"""Reading the project's YAML files (spec, checks, calendar, editions, offices, targets) with libyaml's parser:
the spec alone took ~0.3 s through the pure-Python one, paid by every `tonghop check`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the same safe subset; C only where libyaml is built in


class YamlFileError(ValueError):
    """A project YAML file that does not parse, with the file and the line."""


def read_yaml(path: str | Path) -> Any:
    try:
        return yaml.load(Path(path).read_text(encoding="utf-8"), Loader=_LOADER)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}, line {mark.line + 1}" if mark is not None else str(path)
        raise YamlFileError(f"{where} is not valid YAML: {getattr(exc, 'problem', None) or exc}") from exc
