"""docs/deploy.md and its Helm values (docs/deploy-values.yaml): the file parses, names the image
the Dockerfile builds (at the locked Airflow), gives only settings the code reads, keeps secrets
out, and the document says what it must."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
VALUES = ROOT / "docs" / "deploy-values.yaml"
DOC = ROOT / "docs" / "deploy.md"
CODE = [*sorted((ROOT / "sales_mart" / "airflow").glob("*.py")), ROOT / "sales_mart" / "config.py"]


def values() -> dict:
    return yaml.safe_load(VALUES.read_text())


def code_text() -> str:
    return "".join(path.read_text() for path in CODE)


def test_values_name_the_projects_image_and_a_multi_machine_executor():
    v = values()
    assert v["images"]["airflow"]["repository"].endswith("/sales-mart-airflow")
    compose = (ROOT / "docker-compose.yaml").read_text()
    assert f"image: sales-mart-airflow:{v['images']['airflow']['tag']}" in compose
    assert v["executor"] in ("KubernetesExecutor", "CeleryExecutor")
    assert not v["dags"]["gitSync"]["enabled"]  # the DAG files come in the image
    assert "COPY --chown=airflow:0 dags /opt/airflow/dags" in (ROOT / "Dockerfile").read_text()


def test_every_setting_given_is_one_the_code_reads():
    env = {item["name"]: item.get("value") for item in values()["env"]}
    code = code_text()
    for name in env:
        if name.startswith("AIRFLOW_VAR_"):
            variable = name.removeprefix("AIRFLOW_VAR_").lower()
            assert f'"{variable}"' in code or f"var.value.{variable}" in code, name
        elif name.startswith("AIRFLOW__"):
            assert name.startswith("AIRFLOW__OPENLINEAGE__"), name
        else:
            assert f'"{name}"' in code, f"{name} is read nowhere in the task code"
    # the shared archive (required with several workers) and the Assets' warehouse
    assert env["AIRFLOW_VAR_SALES_MART_ARCHIVE_URL"].startswith("s3://")
    assert env["SALES_MART_WAREHOUSE_URI"].startswith("postgres://")


def test_connections_come_from_a_secret_named_as_the_code_names_them():
    from sales_mart.airflow import settings

    secret = {item["envName"] for item in values()["secret"]}
    for conn_id in (settings.API_CONN_ID, settings.DWH_CONN_ID, settings.SMTP_CONN_ID):
        assert f"AIRFLOW_CONN_{conn_id.upper()}" in secret
    text = VALUES.read_text().lower()
    assert not re.search(r"password|://[^/\s]+:[^@/\s]+@", text), "no secret in the values"


def test_not_simple_auth_manager_and_remote_logging():
    config = values()["config"]
    assert "SimpleAuthManager" not in config["core"]["auth_manager"]
    assert config["logging"]["remote_logging"] == "True"
    assert config["logging"]["remote_base_log_folder"].startswith("s3://")


def test_the_document_covers_the_deployment():
    doc = DOC.read_text()
    for words in ("Helm", "deploy-values.yaml", "plugin", "remote_logging", "auth manager",
                  "sales_mart_archive_url", "Fail-fast", "sales-mart db login",
                  "requirements-runtime.lock", "SALES_MART_WAREHOUSE_URI"):
        assert words in doc, words


@pytest.mark.parametrize("executor,fails", [
    ("KubernetesExecutor", True), ("CeleryExecutor", True),
    ("LocalExecutor,KubernetesExecutor", True), ("LocalExecutor", False)])
def test_several_workers_without_a_shared_archive_fail_fast(executor, fails, monkeypatch):
    from airflow.sdk.exceptions import AirflowFailException

    from sales_mart.airflow import archive

    monkeypatch.setenv("AIRFLOW__CORE__EXECUTOR", executor)
    if fails:
        with pytest.raises(AirflowFailException, match="sales_mart_archive_url"):
            archive.require_shared_archive()
    else:
        archive.require_shared_archive()


def test_compose_names_the_warehouse_of_sales_dwh_for_the_assets():
    compose = yaml.safe_load((ROOT / "docker-compose.yaml").read_text())
    env = compose["x-airflow-common"]["environment"]
    assert env["SALES_MART_WAREHOUSE_URI"] == "postgres://warehouse:5432/${WAREHOUSE_DB:-sales_mart}"
    init = "\n".join(compose["services"]["airflow-init"]["command"])
    assert "--conn-host warehouse --conn-port 5432" in init
