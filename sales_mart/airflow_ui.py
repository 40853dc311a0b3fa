"""`make airflow`: the Airflow UI on 127.0.0.1:8080 with the project's DAGs, unpaused.

Starts (or reuses) the warehouse, the sandbox report API and an SMTP sink, then `airflow
standalone` with connections pointing at them, parallelism 4 and the daily DAG catching up
over the sandbox's last seven days. Prints the login. Ctrl-C (or SIGTERM) stops Airflow and
every process it started, then the rest.

    python -m sales_mart.airflow_ui [--port 8080] [--rows-per-day 1000] [--seed 42]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from sales_mart import config, localstack, warehouse

API_KEY = "local-airflow-key"


def wait_healthy(port: int, proc: subprocess.Popen, timeout: float) -> None:
    url = f"http://127.0.0.1:{port}/api/v2/monitor/health"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"airflow standalone exited with {proc.returncode}")
        with contextlib.suppress(OSError):
            with urllib.request.urlopen(url, timeout=2) as answer:
                if answer.status == 200:
                    return
        time.sleep(1)
    raise TimeoutError(f"Airflow did not answer at {url} within {timeout:.0f} s")


def read_login(home: Path, timeout: float = 30) -> tuple[str, str]:
    path = home / "simple_auth_manager_passwords.json.generated"
    deadline = time.monotonic() + timeout
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.5)
    users = json.loads(path.read_text())
    user, password = next(iter(users.items()))
    return user, password


def stop_group(proc: subprocess.Popen, grace: float = 30) -> None:
    """SIGINT stops `airflow standalone` cleanly (SIGTERM leaves its children running); then
    anything left in its process group is killed."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGINT)
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        pass
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=10)


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="make airflow", description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", 8080)))
    parser.add_argument("--rows-per-day", type=int, default=int(os.environ.get("ROWS", 1000)))
    parser.add_argument("--seed", type=int, default=int(os.environ.get("SEED", 42)))
    parser.add_argument("--startup-timeout", type=float, default=120)
    args = parser.parse_args(argv)

    today = dt.date.today()
    first_day, last_day = today - dt.timedelta(days=7), today - dt.timedelta(days=1)
    home = localstack.VAR_DIR / "airflow-ui"
    home.mkdir(parents=True, exist_ok=True)
    server = sandbox = smtp = proc = None
    # A SIGTERM from outside ends this process through the same cleanup as Ctrl-C.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        try:
            url, server = localstack.ensure_warehouse(config.dwh_url())
        except localstack.NoWarehouse as exc:
            print(f"sales_mart airflow: {exc}", file=sys.stderr)
            return 1
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
                start_date=first_day.isoformat(),
            ),
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(args.port),
            "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{args.port}",
            # standalone starts its components as `airflow …` from PATH
            "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
            "PYTHONWARNINGS": localstack.pythonwarnings_without_testclient_warning(
                os.environ.get("PYTHONWARNINGS")),
        }
        airflow = str(Path(sys.executable).parent / "airflow")
        log_path = home / "standalone.log"
        with open(log_path, "ab") as log_file:
            proc = subprocess.Popen([airflow, "standalone"], env=env, start_new_session=True,
                                    stdout=log_file, stderr=subprocess.STDOUT)
        print(f"airflow standalone started (process group {proc.pid}, log {log_path}); "
              "waiting for the UI…", flush=True)
        wait_healthy(args.port, proc, args.startup_timeout)
        user, password = read_login(home)
        print(f"Airflow UI: http://127.0.0.1:{args.port}  login: {user} / {password}", flush=True)
        print(f"sandbox API {sandbox.base_url} serves {first_day}..{last_day}; "
              f"sales_mart_daily catches up over those days. Ctrl-C stops everything.", flush=True)
        proc.wait()
        return proc.returncode or 0
    except KeyboardInterrupt:
        print("stopping Airflow and the local services…", flush=True)
        return 0
    finally:
        if proc is not None:
            stop_group(proc)
        localstack.stop_all(sandbox, smtp, server)


if __name__ == "__main__":
    sys.exit(main())
