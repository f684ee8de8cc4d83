"""The package layout that docs/architecture.md describes, checked on the source: the domain package's
modules import only from their own layer or the layers below, nothing in it imports Airflow at import time
or the Airflow glue at all, and no two modules import each other through any chain (lazy imports inside
functions and typing-only imports count too: a cycle hidden in a function is still a cycle)."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import ROOT

INCLUDE = ROOT / "include"

# Bottom to top, as in docs/architecture.md ("Module map"). A module may import from its layer and below.
LAYERS = {
    "foundation": {"vocabulary", "yamlfile", "safety", "numbers", "spec", "calendar", "hierarchy", "inbox", "contacts",
                   "targets", "isolation", "findings", "config", "editions", "correspondence", "offices",
                   "officers", "startup", "print_layout"},
    "model and storage": {"schema", "ledger", "storage", "warehouse", "parse", "self_check", "template", "annotate",
                          "mailer", "rollup", "validate", "dictionary", "synth", "outliers", "sign_off"},
    "read side and readers": {"published", "published_charts", "summary", "charts", "officer_workbook", "reader",
                              "review"},
    "period run": {"period"},
    "stages": {"containment", "annotations", "ingest", "consolidate", "notify", "officer_files", "workbook_check",
               "history_import", "schedule"},
    "front doors": {"pipeline", "cli", "local_airflow", "celery_deployment"},
}
# Airflow as a source of configuration only: connections and the providers' hooks, looked up when used.
AIRFLOW_ALLOWED = ("airflow.providers.", "airflow.exceptions", "airflow.sdk")


def _modules(package: str) -> dict[str, Path]:
    root = INCLUDE / package
    return {".".join(p.relative_to(INCLUDE).with_suffix("").parts).removesuffix(".__init__"): p
            for p in root.rglob("*.py") if "migrations" not in p.parts}


def _imports(path: Path, known: set[str]) -> list[tuple[str, bool]]:
    """(imported module, at import time?) for every import statement of the file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = []

    def visit(node: ast.AST, top: bool) -> None:
        for child in ast.iter_child_nodes(node):
            nested = isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
            typing_only = isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test)
            if isinstance(child, ast.Import):
                out.extend((a.name, top) for a in child.names)
            elif isinstance(child, ast.ImportFrom) and child.module:
                for alias in child.names:  # `from tonghop import storage` imports the module tonghop.storage
                    candidate = f"{child.module}.{alias.name}"
                    out.append((candidate if candidate in known else child.module, top))
            visit(child, top and not nested and not typing_only)

    visit(tree, True)
    return out


DOMAIN = _modules("tonghop")
GLUE = _modules("tonghop_airflow")
KNOWN = set(DOMAIN) | set(GLUE)


def _layer_of(module: str) -> int:
    name = module.removeprefix("tonghop.")
    for index, members in enumerate(LAYERS.values()):
        if name in members:
            return index
    raise AssertionError(f"{module} is in no layer: add it to LAYERS and to docs/architecture.md")


def test_every_domain_module_has_a_layer_and_imports_only_downwards():
    upward = []
    for module, path in DOMAIN.items():
        if module == "tonghop":
            continue
        own = _layer_of(module)
        for target, _ in _imports(path, KNOWN):
            if target.startswith("tonghop.") and target in DOMAIN and _layer_of(target) > own:
                upward.append(f"{module} → {target}")
    assert upward == []


def test_the_domain_package_never_needs_airflow_to_import():
    problems = []
    for module, path in DOMAIN.items():
        for target, at_import in _imports(path, KNOWN):
            if target.split(".")[0] == "tonghop_airflow":
                problems.append(f"{module} imports the glue {target}")
            elif target.split(".")[0] == "airflow":
                if at_import:
                    problems.append(f"{module} imports {target} at import time")
                elif not target.startswith(AIRFLOW_ALLOWED):
                    problems.append(f"{module} uses {target}, which is not a connection or hook")
    assert problems == []


def test_no_import_cycles():
    graph = {m: {t for t, _ in _imports(p, KNOWN) if t in KNOWN and t != m} for m, p in {**DOMAIN, **GLUE}.items()}
    cycles, state = [], {}

    def walk(node: str, trail: list[str]) -> None:
        state[node] = "open"
        for target in sorted(graph[node]):
            if state.get(target) == "open":
                cycles.append(" → ".join(trail[trail.index(target):] + [node, target]))
            elif target not in state:
                walk(target, [*trail, node])
        state[node] = "done"

    for module in sorted(graph):
        if module not in state:
            walk(module, [])
    assert cycles == []


def test_the_checker_sees_the_imports_it_must_forbid(tmp_path):
    """The three checks above would catch what they are for: a lazy import inside a function, a module-level
    Airflow import, and a `from package import module` form."""
    source = tmp_path / "sample.py"
    source.write_text("from airflow.sdk import Asset\nfrom tonghop import storage\n\n\ndef f():\n"
                      "    from tonghop.pipeline import run_period\n", encoding="utf-8")
    found = _imports(source, KNOWN)
    assert ("airflow.sdk", True) in found and ("tonghop.storage", True) in found
    assert ("tonghop.pipeline", False) in found
