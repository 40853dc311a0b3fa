"""Imports go one way: DAG files → the Airflow package (sales_mart.airflow, and the timetable
plugin sales_mart.schedule) → the client and the warehouse (sales_mart.api_client,
sales_mart.warehouse, sales_mart.config); never back up, never into the sandbox or the
developer tools, and the Airflow package's own modules import each other without a cycle.
Every import counts, also those inside functions. And no module of the package is over ~300
lines."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "sales_mart"
AIRFLOW_PACKAGE = PACKAGE / "airflow"
DAG_FILES = sorted((ROOT / "dags").glob("*.py"))
TASK_MODULES = [*sorted(AIRFLOW_PACKAGE.glob("*.py")), PACKAGE / "schedule.py"]
# The client and the warehouse: what the tasks call. (api_client may become a package of the
# client and its redaction and error modules; any sales_mart.api_client* name belongs here.)
LOWER = ("sales_mart.api_client", "sales_mart.warehouse", "sales_mart.config")
# The sandbox, the demo and the developer tools: never imported by the pipeline.
TOOLS = ("sales_mart.sandbox", "sales_mart.demo", "sales_mart.localstack",
         "sales_mart.airflow_ui", "sales_mart.cli", "sales_mart.warehouse_cli",
         "sales_mart.envcheck", "tests", "bench", "dags")
MAX_LINES = 300


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


def imports(path: Path) -> set[str]:
    """Every module a file imports (absolute names; `from a import b` counts as a and a.b)."""
    found: set[str] = set()
    package = module_name(path).rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def under(name: str, prefixes) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def sales_mart_imports(path: Path) -> set[str]:
    return {n for n in imports(path) if under(n, ("sales_mart", "tests", "bench", "dags"))}


def test_the_files_checked_are_the_real_ones():
    assert [p.stem for p in DAG_FILES] == ["sales_mart_daily", "sales_mart_history"]
    assert {p.stem for p in TASK_MODULES} >= {"settings", "report", "report_sensor", "archive",
                                              "load", "checks", "publish", "alerts", "lineage"}
    # the checker sees imports inside functions too
    assert "sales_mart.api_client.TryAgainLater" in imports(AIRFLOW_PACKAGE / "report.py")


@pytest.mark.parametrize("path", DAG_FILES, ids=lambda p: p.name)
def test_dag_files_import_only_the_airflow_package(path):
    used = sales_mart_imports(path)
    assert used and all(under(n, ("sales_mart.airflow",)) for n in used), sorted(used)


@pytest.mark.parametrize("path", TASK_MODULES, ids=lambda p: p.name)
def test_tasks_import_only_each_other_and_the_client_and_warehouse(path):
    allowed = ("sales_mart.airflow", "sales_mart.schedule", *LOWER)
    used = sales_mart_imports(path) - {"sales_mart"}
    wrong = sorted(n for n in used if not under(n, allowed) or under(n, TOOLS))
    assert not wrong, f"{path.name} imports {wrong}"


def lower_modules() -> list[Path]:
    found = []
    for name in LOWER:
        module = PACKAGE / name.split(".", 1)[1]
        found += sorted(module.rglob("*.py")) if module.is_dir() else [module.with_suffix(".py")]
    return found


@pytest.mark.parametrize("path", lower_modules(), ids=lambda p: p.name)
def test_the_client_and_warehouse_never_import_airflow_tasks_or_tools(path):
    used = sales_mart_imports(path)
    wrong = sorted(n for n in used
                   if under(n, ("sales_mart.airflow", "sales_mart.schedule", *TOOLS)))
    assert not wrong, f"{path.name} imports {wrong}"
    assert not {n for n in imports(path) if n == "airflow" or n.startswith("airflow.")}


def test_the_airflow_package_has_no_import_cycle():
    graph = {module_name(p): {n for n in sales_mart_imports(p)
                              if n in {module_name(q) for q in TASK_MODULES}}
             for p in TASK_MODULES}
    done: set[str] = set()

    def visit(node: str, path: tuple[str, ...]) -> None:
        assert node not in path, f"import cycle: {' -> '.join((*path, node))}"
        if node in done:
            return
        for child in graph.get(node, ()):
            visit(child, (*path, node))
        done.add(node)

    for node in graph:
        visit(node, ())


@pytest.mark.parametrize("path", TASK_MODULES, ids=lambda p: p.name)
def test_no_module_of_the_airflow_layer_is_over_300_lines(path):
    assert len(path.read_text().splitlines()) <= MAX_LINES
