"""`make airflow`: the UI comes up within a bounded wait, the REST API lists both DAGs, a
triggered run succeeds, and after Ctrl-C every process it started is gone."""

from __future__ import annotations

import glob
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from sales_mart import localstack

pytestmark = pytest.mark.slow


def api(port, method, path, token=None, body=None):
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Content-Type": "application/json",
                 **({"Authorization": f"Bearer {token}"} if token else {})},
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.loads(answer.read() or b"null")


def live_group_members(pgid: int) -> list[str]:
    """Processes of the group that are still running (zombies left to init do not count)."""
    members = []
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            text = open(stat).read()
        except OSError:
            continue
        name_end = text.rindex(")")
        state, _ppid, group = text[name_end + 2:].split()[:3]
        if int(group) == pgid and state != "Z":
            members.append(text[: name_end + 1])
    return members


def api_when_ready(port, path, token, ready, timeout=120):
    """GET until ready(answer) — the API server answers before the DAGs are parsed."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            answer = api(port, "GET", path, token)
            if ready(answer):
                return answer
        except urllib.error.HTTPError as exc:
            if exc.code < 500 or time.monotonic() > deadline:
                raise
        if time.monotonic() > deadline:
            pytest.fail(f"{path} not ready within {timeout} s: {answer}")
        time.sleep(2)


def test_airflow_ui_lists_dags_runs_a_dag_and_stops_cleanly(fresh_warehouse, tmp_path):
    port = localstack.free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update({"SALES_DWH_URL": fresh_warehouse(), "SALES_MART_VAR_DIR": str(tmp_path / "var")})
    proc = subprocess.Popen(
        [sys.executable, "-m", "sales_mart.airflow_ui", "--port", str(port), "--rows-per-day", "120"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    pgid = None
    try:
        lines = []
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            assert line, "make airflow exited early:\n" + "".join(lines)
            lines.append(line)
            if found := re.search(r"process group (\d+)", line):
                pgid = int(found.group(1))
            if login := re.search(r"login: (\S+) / (\S+)", line):
                break
        else:
            pytest.fail("the UI did not come up within 180 s:\n" + "".join(lines))
        user, password = login.groups()

        token = api(port, "POST", "/auth/token", body={"username": user, "password": password})
        token = token["access_token"]
        wanted = {"sales_mart_daily", "sales_mart_history"}
        dags = api_when_ready(port, "/api/v2/dags", token,
                              lambda a: wanted <= {d["dag_id"] for d in a["dags"]})
        assert all(not d["is_paused"] for d in dags["dags"] if d["dag_id"] in wanted)

        run = api(port, "POST", "/api/v2/dags/sales_mart_history/dagRuns", token,
                  {"logical_date": None, "conf": {}})
        state = run["state"]
        deadline = time.monotonic() + 240
        while state not in ("success", "failed") and time.monotonic() < deadline:
            time.sleep(3)
            state = api(port, "GET", f"/api/v2/dags/sales_mart_history/dagRuns/{run['dag_run_id']}",
                        token)["state"]
        assert state == "success"
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=90)
    assert pgid is not None
    deadline = time.monotonic() + 30
    while live_group_members(pgid) and time.monotonic() < deadline:
        time.sleep(1)
    assert live_group_members(pgid) == []
