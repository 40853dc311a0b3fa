"""Raw files and signed URLs: an object store signs file URLs in their query string, and that
signature must reach no log line, XCom value, rendered template or e-mail; downloaded files are
capped in size, written 0640 and kept for a configurable number of days."""

from __future__ import annotations

import logging
import os
import socket
import stat
import time
from pathlib import Path

import pytest
from conftest import DAYS
from orders import fetch

pytestmark = pytest.mark.slow


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stored_texts(dag_id: str) -> dict[str, str]:
    """What Airflow keeps of the DAG's runs: XCom values, rendered template fields, task logs."""
    from airflow.models.renderedtifields import RenderedTaskInstanceFields
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        xcoms = session.query(XComModel).filter(XComModel.dag_id == dag_id).all()
        rendered = session.query(RenderedTaskInstanceFields).filter(
            RenderedTaskInstanceFields.dag_id == dag_id).all()
        texts = {"xcom": "\n".join(f"{x.task_id}={x.value!r}" for x in xcoms),
                 "rendered": "\n".join(repr(r.rendered_fields) for r in rendered)}
    logs = [p for p in Path(os.environ["AIRFLOW_HOME"], "logs").rglob("*") if p.is_file()]
    texts["task logs"] = "\n".join(p.read_text(errors="replace") for p in logs)
    return texts


def test_signed_url_queries_reach_no_log_xcom_template_or_email(pipeline, capfd, caplog):
    caplog.set_level(logging.DEBUG)
    day, failing_day = DAYS[1], DAYS[2]
    state, tasks = pipeline.daily(day)
    assert state == "success", tasks
    # the file URLs now point at a closed port: the download fails, its error quotes the URL
    pipeline.sandbox.settings.public_url = f"http://127.0.0.1:{closed_port()}"
    try:
        state, tasks = pipeline.daily(failing_day)
    finally:
        pipeline.sandbox.settings.public_url = None
    assert state == "failed" and tasks["download"][0] == "failed", tasks
    (mail,) = pipeline.smtp.take()
    assert "download" in mail.subject and "connection" in mail.text.lower()

    signatures = pipeline.sandbox.issued_signatures
    assert len(signatures) >= 8  # every file of both days' increments was signed
    out, err = capfd.readouterr()
    places = {"stdout": out, "stderr": err, "log records": caplog.text,
              "e-mail": mail.subject + mail.text, **stored_texts("sales_mart_daily")}
    assert places["xcom"] and places["stdout"] + places["stderr"] + places["log records"]
    for place, text in places.items():
        leaked = [s for s in signatures if s in text]
        assert not leaked, f"a signed URL's query is in the {place}"
        assert "X-Amz-Signature=" not in text, place


def test_raw_files_are_0640_pruned_after_the_retention_and_capped_in_size(pipeline, monkeypatch,
                                                                          dwh):
    folder = pipeline.landing / "increments"
    folder.mkdir(parents=True)
    old, recent = folder / "user_order_log_inc_2020-01-01_0.csv", folder / "recent.csv"
    for path, age_days in ((old, 31), (recent, 29)):
        path.write_text("id\n")
        when = time.time() - age_days * 86400
        os.utime(path, (when, when))
    monkeypatch.setenv("AIRFLOW_VAR_SALES_MART_LANDING_RETENTION_DAYS", "30")

    state, tasks = pipeline.daily(DAYS[1])

    assert state == "success", tasks
    (landed,) = folder.glob(f"user_order_log_inc_{DAYS[1]}_*.csv")
    assert stat.S_IMODE(landed.stat().st_mode) == 0o640
    assert not old.exists() and recent.exists()

    # a file larger than the cap (here 1 KiB) fails the download, and nothing is kept
    monkeypatch.setenv("AIRFLOW_VAR_SALES_MART_MAX_DOWNLOAD_MB", str(1 / 1024))
    state, tasks = pipeline.daily(DAYS[2])
    assert state == "failed" and tasks["download"] == ("failed", 1), tasks  # not retried
    (mail,) = pipeline.smtp.take()
    assert "larger than the download cap" in mail.text and "sales_mart_max_download_mb" in mail.text
    assert not list(folder.glob(f"*{DAYS[2]}*")) and not list(folder.glob(".*"))
    assert fetch(dwh, "select count(*) from staging.load_log where delivery_date = %s",
                 (DAYS[2],)) == [(0,)]
