"""Issue 17 §1: the report API client is split into rooms of at most ~300 lines, it imports
nothing of Airflow, the DAGs' tasks, the warehouse, the sandbox or the dev tools, and
``sales_mart.api_client`` still exports the names other code imports from it."""

from __future__ import annotations

import ast
from pathlib import Path

import sales_mart

PACKAGE = Path(sales_mart.__file__).parent
CLIENT_MODULES = ("api_client", "api_answers", "api_connection", "api_download", "api_errors",
                  "api_http", "redaction")
ALLOWED_THIRD_PARTY = {"requests", "urllib3"}


def imported(module: str) -> set[str]:
    tree = ast.parse((PACKAGE / f"{module}.py").read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            if node.module == "sales_mart":  # from sales_mart import api_download
                names.update(f"sales_mart.{alias.name}" for alias in node.names)
    return names


def test_every_client_module_is_at_most_300_lines():
    sizes = {m: len((PACKAGE / f"{m}.py").read_text(encoding="utf-8").splitlines())
             for m in CLIENT_MODULES}
    assert max(sizes.values()) <= 300, sizes


def test_the_client_imports_only_itself_the_stdlib_requests_and_urllib3():
    import sys

    for module in CLIENT_MODULES:
        for name in imported(module):
            top = name.split(".")[0]
            if top == "sales_mart":
                assert name == "sales_mart" or name.split(".")[1] in CLIENT_MODULES, \
                    f"{module} imports {name}"
            else:
                assert top in sys.stdlib_module_names or top in ALLOWED_THIRD_PARTY \
                    or top == "__future__", f"{module} imports {name}"


def test_api_client_still_exports_its_public_names():
    import sales_mart.api_client as api_client

    expected = {"AuthError", "ConfigError", "DownloadResult", "DownloadTooLarge", "Increment",
                "IncompleteDownload", "IncrementNotFound", "MalformedResponse", "Report",
                "ReportApiClient", "ReportApiError", "ReportRequestUncertain",
                "RetriesExhausted", "TryAgainLater", "default_retry", "redact_urls"}
    assert set(api_client.__all__) == expected
    assert all(hasattr(api_client, name) for name in expected)
