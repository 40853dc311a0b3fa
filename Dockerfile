# The Airflow image of the docker-compose.yaml stack (docs/docker.md): the official Airflow image
# plus the project's pinned dependencies, the sales_mart package (the `sales-mart` command), and
# the SQL and DAGs at the paths the compose file also mounts them to.
FROM apache/airflow:3.3.2-python3.11

# requirements-runtime.lock pins the runtime dependencies only (no test, lint, demo or chart
# libraries: the development lock has those), Airflow included, at the
# versions the tests run with. Naming apache-airflow==${AIRFLOW_VERSION} too, as the Airflow
# image docs advise, makes pip refuse any resolution that would replace the image's own
# Airflow. The image's constraints file is not passed: the lock already pins everything.
COPY --chown=airflow:0 requirements-runtime.lock /opt/sales_mart/requirements-runtime.lock
RUN pip install --no-cache-dir "apache-airflow==${AIRFLOW_VERSION}" \
    -r /opt/sales_mart/requirements-runtime.lock

# The package after the dependencies, so a code change does not reinstall them.
COPY --chown=airflow:0 pyproject.toml /opt/sales_mart/pyproject.toml
COPY --chown=airflow:0 sales_mart /opt/sales_mart/sales_mart
RUN pip install --no-cache-dir --no-deps /opt/sales_mart

# Same paths as the compose mounts, so the image also works on its own (without ./dags, ./db).
COPY --chown=airflow:0 db /opt/airflow/db
COPY --chown=airflow:0 dags /opt/airflow/dags
# An installed (not editable) package cannot find db/ next to itself: point it there.
ENV SALES_MART_DB_DIR=/opt/airflow/db \
    SALES_MART_LANDING_DIR=/opt/airflow/landing
# Created here so fresh named volumes mounted on them start owned by the airflow user.
RUN mkdir -p /opt/airflow/landing /opt/airflow/auth
