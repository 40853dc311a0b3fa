"""`make airflow`: the Airflow UI on 127.0.0.1:8080 with the project's DAGs, unpaused.

Checks first that the UI's port and the ports of Airflow's own log servers are free and distinct,
then starts (or reuses) the warehouse, the sandbox report API and an SMTP sink, then `airflow
standalone` with connections pointing at them, its metadata in PostgreSQL beside the warehouse,
parallelism 4 and the daily DAG catching up over the sandbox's last seven days. Prints the
login. Ctrl-C (or SIGTERM) stops Airflow and every process it started, then the rest. An
expected failure (no PostgreSQL, a port taken, Airflow exiting or not answering) is one line
saying what and what to do, and exit status 1.

    python -m sales_mart.airflow_ui [--port 8080] [--rows-per-day 1000] [--seed 42]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg2

from sales_mart import config, localstack, warehouse

API_KEY = "local-airflow-key"
PROG = "make airflow"


class LaunchFailed(RuntimeError):
    """An expected failure of `make airflow`: said in one line, without a traceback."""


# --- ports ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class InternalPort:
    """A port Airflow's own components listen on (all interfaces), and how to move it."""

    what: str
    setting: str  # [section] option
    env: str
    default: int  # Airflow's default (checked against Airflow's config by the tests)

    @property
    def port(self) -> int:
        return int(os.environ.get(self.env) or self.default)


# The scheduler (LocalExecutor) and the triggerer each serve their task logs to the UI.
INTERNAL_PORTS = (
    InternalPort("worker log server", "[logging] worker_log_server_port",
                 "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT", 8793),
    InternalPort("triggerer log server", "[logging] trigger_log_server_port",
                 "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT", 8794),
)


MAX_PORT = 65535


def port_free(port: int, host: str) -> bool:
    """True when a server could listen on host:port now (as servers do, with SO_REUSEADDR)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
            sock.listen()
        except OSError:
            return False
    return True


def suggest_port(preferred: int, taken: set[int]) -> int:
    if preferred <= MAX_PORT and preferred not in taken and port_free(preferred, "0.0.0.0"):
        return preferred
    while (port := localstack.free_port()) in taken:
        pass
    return port


def check_ports(ui_port: int) -> None:
    """Raises LaunchFailed naming the clash and the fix, before anything is started."""
    internal = {p.port: p for p in INTERNAL_PORTS}
    in_use = {ui_port, *internal}
    if not 0 < ui_port <= MAX_PORT:
        raise LaunchFailed(f"PORT={ui_port} is not a TCP port (1-{MAX_PORT}); choose one: "
                           f"make airflow PORT={suggest_port(8080, in_use)}")
    for port, p in internal.items():
        if not 0 < port <= MAX_PORT:
            raise LaunchFailed(f"{p.env}={port} is not a TCP port (1-{MAX_PORT})")
    if ui_port in internal:
        clash = internal[ui_port]
        raise LaunchFailed(
            f"PORT={ui_port} is the port of Airflow's own {clash.what} ({clash.setting}), so "
            f"the UI could not get it; choose another: make airflow "
            f"PORT={suggest_port(8080, in_use)}")
    if not port_free(ui_port, "127.0.0.1"):
        raise LaunchFailed(
            f"port {ui_port} on 127.0.0.1 is already in use (another Airflow or program); stop "
            f"it or choose another: make airflow PORT={suggest_port(8080, in_use)}")
    for port, p in internal.items():
        if not port_free(port, "0.0.0.0"):
            raise LaunchFailed(
                f"port {port} of Airflow's own {p.what} ({p.setting}) is already in use, "
                f"probably by another Airflow on this machine; stop it or move this one's: "
                f"{p.env}={suggest_port(port + 10000, in_use)} make airflow")


# --- airflow standalone -------------------------------------------------------------------------


def last_error(log_path: Path, offset: int) -> str | None:
    """The last line of this run's part of the log that names an error, shortened."""
    with contextlib.suppress(OSError), open(log_path, "rb") as fh:
        fh.seek(offset)
        lines = fh.read().decode("utf-8", "replace").splitlines()
        for line in reversed(lines):
            if "Error" in line or "error" in line:
                text = " ".join(line.split())
                return text if len(text) <= 200 else text[:197] + "..."
    return None


def wait_healthy(port: int, proc: subprocess.Popen, timeout: float, log_path: Path,
                 offset: int) -> None:
    url = f"http://127.0.0.1:{port}/api/v2/monitor/health"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            error = last_error(log_path, offset)
            raise LaunchFailed(
                f"airflow standalone exited with status {proc.returncode} before the UI "
                f"answered{f' ({error})' if error else ''}; full log: {log_path}")
        with contextlib.suppress(OSError):
            with urllib.request.urlopen(url, timeout=2) as answer:
                if answer.status == 200:
                    return
        time.sleep(1)
    raise LaunchFailed(f"Airflow did not answer at {url} within {timeout:.0f} s; "
                       f"see {log_path}")


def read_login(home: Path, timeout: float = 30) -> tuple[str, str]:
    path = home / "simple_auth_manager_passwords.json.generated"
    deadline = time.monotonic() + timeout
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.5)
    if not path.exists():
        raise LaunchFailed(f"Airflow wrote no login to {path} within {timeout:.0f} s")
    users = json.loads(path.read_text())
    user, password = next(iter(users.items()))
    return user, password


# Ctrl-C stops everything within STOP_SECONDS: airflow standalone gets SIGINT (its clean stop;
# SIGTERM would leave its children running) and GRACE_SECONDS to finish; under load it takes
# longer (its components wait for their own children), so then every process of its group gets
# SIGTERM and, a moment later, SIGKILL. A task killed so is run again like any failed task.
GRACE_SECONDS = 5
TERM_SECONDS = 2
STOP_SECONDS = 10


def stop_group(proc: subprocess.Popen, grace: float = GRACE_SECONDS,
               term: float = TERM_SECONDS) -> None:
    """Stops `airflow standalone` and everything in its process group, in grace + term
    seconds at most."""
    for sig, wait in ((signal.SIGINT, grace), (signal.SIGTERM, term)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=wait)
        if proc.poll() is not None and not group_alive(proc.pid):
            return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=1)


def group_alive(pgid: int) -> bool:
    """Whether any process of the group is still there (signal 0 checks without sending)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def metadata_database(dwh_url: str) -> str:
    """Airflow's metadata database for `make airflow`, as a SQLAlchemy URL:
    ``<warehouse database>_airflow`` on the warehouse's server, created when missing (kept
    across starts, as the Airflow home is). Not SQLite: the scheduler, the API server and the
    task processes write to it at once, and SQLite has one writer at a time; a CI run's trigger
    of the history DAG failed with HTTP 500 after SQLite's 5 s busy wait, its INSERT and
    a task's update each waiting on the other."""
    parts = urlsplit(dwh_url)
    name = f"{parts.path.lstrip('/') or 'postgres'}_airflow"
    warehouse.ensure_database(urlunsplit(parts._replace(path=f"/{name}")))
    return urlunsplit(parts._replace(scheme="postgresql+psycopg2", path=f"/{name}"))


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", 8080)))
    parser.add_argument("--rows-per-day", type=int, default=int(os.environ.get("ROWS", 1000)))
    parser.add_argument("--seed", type=int, default=int(os.environ.get("SEED", 42)))
    parser.add_argument("--startup-timeout", type=float, default=120)
    args = parser.parse_args(argv)

    today = dt.date.today()
    first_day, last_day = today - dt.timedelta(days=7), today - dt.timedelta(days=1)
    home = localstack.VAR_DIR / "airflow-ui"
    server = sandbox = smtp = proc = None
    # A SIGTERM from outside ends this process through the same cleanup as Ctrl-C.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        check_ports(args.port)
        home.mkdir(parents=True, exist_ok=True)
        url, server = localstack.ensure_warehouse(config.dwh_url())
        warehouse.upgrade(url)
        from sales_mart.sandbox.server import run_in_thread

        sandbox = run_in_thread(api_key=API_KEY, seed=args.seed, rows_per_day=args.rows_per_day,
                                start_date=first_day, end_date=last_day, running_polls=1,
                                cache_dir=localstack.VAR_DIR / "sandbox-cache")
        smtp = localstack.SmtpSink().start()
        env = {
            **os.environ,
            **localstack.airflow_environment(
                home=home, dwh_url=url, api_base_url=sandbox.base_url, api_key=API_KEY,
                smtp_port=smtp.port, landing_dir=localstack.VAR_DIR / "landing",
                start_date=first_day.isoformat(), metadata_url=metadata_database(url),
            ),
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(args.port),
            "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{args.port}",
            # the log servers' ports as checked above, whatever an airflow.cfg says
            **{p.env: str(p.port) for p in INTERNAL_PORTS},
            # standalone starts its components as `airflow …` from PATH
            "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
            "PYTHONWARNINGS": localstack.pythonwarnings_without_testclient_warning(
                os.environ.get("PYTHONWARNINGS")),
        }
        airflow = str(Path(sys.executable).parent / "airflow")
        log_path = home / "standalone.log"
        with open(log_path, "ab") as log_file:
            offset = log_file.tell()
            proc = subprocess.Popen([airflow, "standalone"], env=env, start_new_session=True,
                                    stdout=log_file, stderr=subprocess.STDOUT)
        print(f"airflow standalone started (process group {proc.pid}, log {log_path}); "
              "waiting for the UI…", flush=True)
        wait_healthy(args.port, proc, args.startup_timeout, log_path, offset)
        user, password = read_login(home)
        print(f"Airflow UI: http://127.0.0.1:{args.port}  login: {user} / {password}", flush=True)
        print(f"sandbox API {sandbox.base_url} serves {first_day}..{last_day}; "
              f"sales_mart_daily catches up over those days. Ctrl-C stops everything.", flush=True)
        proc.wait()
        if proc.returncode:
            print(f"{PROG}: airflow standalone exited with status {proc.returncode}; "
                  f"see {log_path}", file=sys.stderr, flush=True)
            return 1
        return 0
    except (LaunchFailed, localstack.NoWarehouse, warehouse.LoadError, psycopg2.Error) as exc:
        print(f"{PROG}: {' '.join(str(exc).split())}", file=sys.stderr, flush=True)
        return 1
    except KeyboardInterrupt:
        print("stopping Airflow and the local services…", flush=True)
        return 0
    finally:
        if proc is not None:
            stop_group(proc)
        localstack.stop_all(sandbox, smtp, server)


if __name__ == "__main__":
    sys.exit(main())
