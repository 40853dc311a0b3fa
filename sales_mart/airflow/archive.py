"""The raw-file archive: every downloaded file is kept, named by date and checksum, through
Airflow's object storage (a local folder or e.g. S3), and pruned after its retention.

Reads and writes go through ``ObjectStoragePath.open``, which reports the archived file to
Airflow's hook lineage collector (the task's OpenLineage input or output); the worker's local
scratch copies are plain files and never appear in lineage.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
from pathlib import Path

from sales_mart.airflow.settings import fail, landing_dir, setting

log = logging.getLogger(__name__)

CHUNK = 1 << 20


def archive_root():
    """Where raw files are archived, through Airflow's object storage: Variable
    ``sales_mart_archive_url`` (e.g. ``s3://bucket/sales_mart/``, with the connection named by
    ``sales_mart_archive_conn_id``), by default the local landing folder. With workers on
    several machines it must be storage they all reach: the COPY may run on another worker
    than the download."""
    from airflow.sdk import ObjectStoragePath

    url = setting("sales_mart_archive_url")
    if not url:
        require_shared_archive()
        url = landing_dir().resolve().as_uri()
    return ObjectStoragePath(url.rstrip("/") + "/",
                             conn_id=setting("sales_mart_archive_conn_id") or None)


# Executors whose tasks all run on the scheduler's machine; any other (Celery, Kubernetes, Edge)
# may run the download and the COPY of a day on two machines.
ONE_MACHINE_EXECUTORS = {"LocalExecutor", "SequentialExecutor", "DebugExecutor"}


def require_shared_archive() -> None:
    """Fails fast when tasks may run on several machines and no shared archive is set: the
    default archive, a worker's local folder, would hold a file the COPY (on another worker)
    cannot see."""
    from airflow.configuration import conf

    executors = [e.strip().split(".")[-1].split(":")[-1]
                 for e in (conf.get("core", "executor", fallback="LocalExecutor") or "").split(",")
                 if e.strip()]
    distributed = [e for e in executors if e not in ONE_MACHINE_EXECUTORS]
    if distributed:
        raise fail(
            f"the executor {', '.join(distributed)} may run a day's download and COPY on "
            "different machines, but no shared raw-file archive is set: set the Variable "
            "sales_mart_archive_url to storage every worker reaches (e.g. "
            "s3://bucket/sales_mart/, with sales_mart_archive_conn_id), docs/deploy.md")


def scratch() -> tempfile.TemporaryDirectory:
    """A temporary folder in the worker's local landing folder (removed when done)."""
    folder = landing_dir()
    folder.mkdir(parents=True, exist_ok=True)
    return tempfile.TemporaryDirectory(prefix=".scratch-", dir=folder)


def landing_name(prefix: str, day: str, sha256: str) -> str:
    """A raw file's name in the archive: file name, date and checksum."""
    return f"{prefix}_{day}_{sha256[:16]}.csv"


def store(local: Path, target) -> None:
    """Copies a local file into the archive (mode 0640 in a local archive)."""
    if target.protocol == "file":
        Path(target.path).parent.mkdir(parents=True, exist_ok=True)
    with open(local, "rb") as src, target.open("wb") as dst:
        shutil.copyfileobj(src, dst, CHUNK)
    if target.protocol == "file":
        os.chmod(target.path, 0o640)


def fetch(uri: str, local: Path):
    """Copies an archived file to a local path; returns the archived ObjectStoragePath."""
    from airflow.sdk import ObjectStoragePath

    archived = ObjectStoragePath(uri, conn_id=archive_root().conn_id)
    with archived.open("rb") as src, open(local, "wb") as dst:
        shutil.copyfileobj(src, dst, CHUNK)
    return archived


def retention_days() -> float:
    """``sales_mart_landing_retention_days`` (default 30; 0 keeps raw files forever)."""
    return float(setting("sales_mart_landing_retention_days", 30))


def prune_archive(folder, days: float, now: float | None = None) -> list:
    """Deletes raw files of the archive ``folder`` (an ObjectStoragePath) written more than
    ``days`` ago; returns them."""
    if days <= 0 or not folder.exists():
        return []
    cutoff = (time.time() if now is None else now) - days * 86400
    old = [p for p in folder.iterdir()
           if p.name.endswith(".csv") and p.is_file() and p.stat().st_mtime < cutoff]
    for path in old:
        path.unlink()
    if old:
        log.info("removed %d raw file(s) older than %g days from %s", len(old), days, folder)
    return old
