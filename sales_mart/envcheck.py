"""Refuses to start the compose stack with placeholder secrets (docs/docker.md).

``python -m sales_mart.envcheck`` (the ``check-env`` one-shot service every other service of
docker-compose.yaml waits for) checks the secrets it is given as environment variables: each
must be set and must not be one of the ``change-me…`` placeholders of ``.env.example``;
``AIRFLOW__CORE__FERNET_KEY`` must be a valid Fernet key (Airflow encrypts connection
passwords with it). It prints what is wrong — variable names and how to fix them, never a
value — and exits 1; 0 when all is well.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

PLACEHOLDER = "change-me"
FERNET_VARIABLE = "AIRFLOW__CORE__FERNET_KEY"
# The variables the check-env service passes in; their .env names are in the compose file.
SECRETS = (
    "AIRFLOW_ADMIN_PASSWORD", "AIRFLOW_POSTGRES_PASSWORD", "AIRFLOW_JWT_SECRET",
    "AIRFLOW_API_SECRET_KEY", FERNET_VARIABLE, "WAREHOUSE_PASSWORD",
    "SALES_PIPELINE_PASSWORD", "SALES_API_KEY",
)
GENERATE = 'python3 -c "import secrets; print(secrets.token_urlsafe(32))"'
GENERATE_FERNET = ('python3 -c "from cryptography.fernet import Fernet; '
                   'print(Fernet.generate_key().decode())"')


def problems(env: Mapping[str, str], names: tuple[str, ...] = SECRETS) -> list[str]:
    """What is wrong with the secrets ``names`` in ``env`` (empty when nothing is)."""
    found = []
    for name in names:
        value = (env.get(name) or "").strip()
        if not value:
            found.append(f"{name} is not set")
        elif value.lower().startswith(PLACEHOLDER):
            found.append(f"{name} still holds the {PLACEHOLDER} placeholder of .env.example")
        elif name == FERNET_VARIABLE and not _is_fernet_key(value):
            found.append(f"{name} is not a Fernet key (32 url-safe base64-encoded bytes)")
    return found


def _is_fernet_key(value: str) -> bool:
    from cryptography.fernet import Fernet

    try:
        Fernet(value.encode())
    except ValueError:
        return False
    return True


def main(env: Mapping[str, str] | None = None) -> int:
    found = problems(os.environ if env is None else env)
    if not found:
        print("check-env: every secret is set, none is a placeholder")
        return 0
    print("check-env: refusing to start the stack:", file=sys.stderr)
    for problem in found:
        print(f"  - {problem}", file=sys.stderr)
    print(f"Set them in .env. A secret: {GENERATE}\n"
          f"The Fernet key (AIRFLOW_FERNET_KEY in .env): {GENERATE_FERNET}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
