"""Settings read from the environment, with the defaults SPEC §7 fixes."""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_DWH_URL = "postgresql://postgres@127.0.0.1:5432/sales_mart"

# The repository root: db/ and dags/ are found relative to the installed (editable) package.
PROJECT_ROOT = Path(__file__).resolve().parent.parent
DB_DIR = Path(os.environ.get("SALES_MART_DB_DIR", PROJECT_ROOT / "db"))


def dwh_url() -> str:
    return os.environ.get("SALES_DWH_URL") or DEFAULT_DWH_URL


def dwh_role() -> str | None:
    """The role the pipeline acts as after connecting (``SET ROLE``); empty disables it."""
    role = os.environ.get("SALES_DWH_ROLE", "sales_loader")
    return role or None


# Every session the pipeline opens waits for a lock at most SALES_MART_LOCK_TIMEOUT and runs a
# statement at most SALES_MART_STATEMENT_TIMEOUT (PostgreSQL interval syntax): a login holding
# a lock the pipeline needs makes a run fail, naming what it waited for, instead of hanging.
DEFAULT_LOCK_TIMEOUT = "2min"
DEFAULT_STATEMENT_TIMEOUT = "1h"


def lock_timeout() -> str:
    return os.environ.get("SALES_MART_LOCK_TIMEOUT") or DEFAULT_LOCK_TIMEOUT


def statement_timeout() -> str:
    return os.environ.get("SALES_MART_STATEMENT_TIMEOUT") or DEFAULT_STATEMENT_TIMEOUT


def dwh_session_options(role: str | None = None) -> str:
    """libpq ``options`` for a pipeline session: the timeouts and, when given, the role."""
    options = [f"-c lock_timeout={lock_timeout()}", f"-c statement_timeout={statement_timeout()}"]
    if role:
        options.append(f"-c role={role}")
    return " ".join(options)
