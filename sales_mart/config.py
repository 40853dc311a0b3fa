"""Settings read from the environment, with the defaults SPEC §7 fixes."""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_DWH_URL = "postgresql://postgres@127.0.0.1:5432/sales_mart"

PACKAGE_DIR = Path(__file__).resolve().parent
# The repository root, for an editable install (`make venv`): dags/ and db/ are beside the package.
PROJECT_ROOT = PACKAGE_DIR.parent


def find_db_dir() -> Path:
    """The SQL the package runs (migrations, procedures, views, checks): ``SALES_MART_DB_DIR``
    when set (e.g. a mounted copy that changes without a new image); else ``sales_mart/db``
    inside an installed wheel (pyproject.toml ships db/ there); else the repository's db/."""
    configured = os.environ.get("SALES_MART_DB_DIR", "").strip()
    if configured:
        return Path(configured)
    shipped = PACKAGE_DIR / "db"
    return shipped if shipped.is_dir() else PROJECT_ROOT / "db"


DB_DIR = find_db_dir()


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
