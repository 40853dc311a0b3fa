# The Airflow image of the docker-compose.yaml stack (docs/docker.md) and of a cluster
# (docs/deploy.md): the official Airflow image plus the project's pinned runtime dependencies and
# the sales_mart wheel (the `sales-mart` command, the DAGs' task code and, inside the package,
# the SQL of db/), and the DAG files.
FROM apache/airflow:3.3.2-python3.11

# requirements-runtime.lock pins the runtime dependencies only (no test, lint, demo or chart
# libraries: the development lock has those), Airflow included at the image's own version,
# each with its hashes, so pip installs exactly what the tests ran with (hash-checking mode).
# The image's constraints file is not passed: the lock already pins everything.
COPY --chown=airflow:0 requirements-runtime.lock /opt/sales_mart/requirements-runtime.lock
RUN pip install --no-cache-dir -r /opt/sales_mart/requirements-runtime.lock \
    && python -c "import os, airflow; assert airflow.__version__ == os.environ['AIRFLOW_VERSION'], airflow.__version__"

# The package after the dependencies, so a code change does not reinstall them. Built as a
# normal (not editable) wheel: db/ goes inside it as sales_mart/db (pyproject.toml).
COPY --chown=airflow:0 pyproject.toml README.md /opt/sales_mart/
COPY --chown=airflow:0 sales_mart /opt/sales_mart/sales_mart
COPY --chown=airflow:0 db /opt/sales_mart/db
RUN pip install --no-cache-dir --no-deps /opt/sales_mart

# The DAG files at the path the compose file also mounts them to, so the image works on its own.
COPY --chown=airflow:0 dags /opt/airflow/dags
ENV SALES_MART_LANDING_DIR=/opt/airflow/landing
# Created here so fresh named volumes mounted on them start owned by the airflow user.
RUN mkdir -p /opt/airflow/landing /opt/airflow/auth
