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
