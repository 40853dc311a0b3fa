"""docker-compose.yaml checked against the code.

No Docker engine runs here, so the stack cannot be started in a test. Instead the file is parsed
and everything it relies on is checked: the services and their healthchecks and start order, the
commands it runs (through the real `sales-mart` and `airflow` argument parsers), the files it
mounts and the Dockerfile copies, the connection ids and variables against SPEC and the DAG code,
and every variable it reads against .env.example.
"""

from __future__ import annotations

import ast
import fnmatch
import json
import re
import shlex
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from sales_mart.cli import build_parser

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yaml"
ENV_EXAMPLE = ROOT / ".env.example"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
DOCS = ROOT / "docs" / "docker.md"

REQUIRED_SERVICES = {
    "check-env", "warehouse", "airflow-postgres", "airflow-init", "airflow-apiserver", "airflow-scheduler",
    "airflow-dag-processor", "airflow-triggerer", "sandbox-api", "mailpit",
}
ONE_SHOT_SERVICES = {"airflow-init", "check-env"}
# The Airflow image's entrypoint runs `airflow <command>`.
AIRFLOW_SERVICE_COMMANDS = {
    "airflow-apiserver": "api-server",
    "airflow-scheduler": "scheduler",
    "airflow-dag-processor": "dag-processor",
    "airflow-triggerer": "triggerer",
}
# SPEC §2 and §6: connection id -> conn type, and the alert Variable.
SPEC_CONNECTIONS = {"sales_api": "http", "sales_dwh": "postgres", "sales_smtp": "smtp"}
SPEC_ALERT_VARIABLE = "sales_mart_alert_email"
SPEC_DAG_IDS = {"sales_mart_daily", "sales_mart_history"}
# Set by the container runtime, not by the compose file.
RUNTIME_PROVIDED_VARIABLES = {"HOSTNAME"}
DEPENDS_ON_CONDITIONS = {"service_healthy", "service_completed_successfully"}

# Compose interpolation: $$ (a literal $), ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?err},
# ${VAR?err}, $VAR.
_INTERPOLATION = re.compile(
    r"\$\$|\$\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}"
    r"|\$(?P<bare>[A-Za-z_][A-Za-z0-9_]*)"
)
# After compose's pass, what the container's shell expands: ${VAR} or $VAR.
_SHELL_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)[^}]*\}|\$([A-Za-z_][A-Za-z0-9_]*)")
_SHELL_OPERATORS = ("||", "&&", "|", ";", ">", "<", "2>", "1>", "&>")


# --- reading the files --------------------------------------------------------------------


def read_env_file(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        assert sep, f"{path.name}: not KEY=VALUE: {line!r}"
        values[key.strip()] = value.strip()
    return values


def interpolate(text: str, env: dict[str, str]) -> str:
    """What compose makes of a string, given the .env values (`$$` becomes `$`)."""

    def replace(match: re.Match) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group("braced") or match.group("bare")
        op, arg = match.group("op"), match.group("arg")
        value = env.get(name)
        if op and op.startswith(":") and not value:
            value = None
        if value is None:
            if op in (":-", "-"):
                return arg
            raise AssertionError(f"${{{name}}} has no value in .env.example and no default "
                                 f"({arg or 'compose would substitute an empty string'})")
        return value

    return _INTERPOLATION.sub(replace, text)


def strings_in(node) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, list):
        return [text for item in node for text in strings_in(item)]
    if isinstance(node, dict):
        return [text for value in node.values() for text in strings_in(value)]
    return []


def compose_variables(raw: dict) -> dict[str, str | None]:
    """Variables compose interpolates in the file's values (comments are not interpolated)
    -> the operator used (None, ':-', ':?' ...)."""
    found: dict[str, str | None] = {}
    for match in _INTERPOLATION.finditer("\n".join(strings_in(raw))):
        name = match.group("braced") or match.group("bare")
        if name:
            found.setdefault(name, match.group("op"))
            if match.group("op") in (":?", "?"):
                found[name] = match.group("op")
    return found


def resolve(node, env: dict[str, str]):
    if isinstance(node, str):
        return interpolate(node, env)
    if isinstance(node, list):
        return [resolve(item, env) for item in node]
    if isinstance(node, dict):
        return {key: resolve(value, env) for key, value in node.items()}
    return node


@pytest.fixture(scope="module")
def env_example() -> dict[str, str]:
    assert ENV_EXAMPLE.is_file(), ".env.example is missing"
    return read_env_file(ENV_EXAMPLE)


@pytest.fixture(scope="module")
def compose(env_example) -> dict:
    """The compose file as `docker compose` would see it with .env copied from .env.example
    (anchors and `<<` merges resolved by the YAML loader, variables interpolated)."""
    return resolve(yaml.safe_load(COMPOSE_FILE.read_text()), env_example)


@pytest.fixture(scope="module")
def services(compose) -> dict[str, dict]:
    return compose["services"]


def environment(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):  # the KEY=VALUE list form
        env = dict(item.partition("=")[::2] for item in env)
    return {key: "" if value is None else str(value) for key, value in env.items()}


def as_argv(command) -> list[str]:
    return list(command) if isinstance(command, list) else shlex.split(command)


def init_script(services) -> str:
    """The bash script airflow-init runs (`entrypoint: /bin/bash`, `command: [-c, script]`)."""
    init = services["airflow-init"]
    assert init.get("entrypoint") in ("/bin/bash", ["/bin/bash"]), init.get("entrypoint")
    command = init["command"]
    assert isinstance(command, list) and command[0] == "-c", command
    return command[1]


def script_commands(script: str, program: str) -> list[list[str]]:
    """The argument lists of every `program ...` line of a shell script, without redirections
    and what follows `||`, `&&`, `|` or `;`."""
    joined = re.sub(r"\\\n\s*", " ", script)
    commands = []
    for line in joined.splitlines():
        line = line.strip()
        if not line.startswith(program + " "):
            continue
        argv = []
        for token in shlex.split(line, comments=True):
            if token.startswith(_SHELL_OPERATORS):
                break
            argv.append(token)
        commands.append(argv[1:])
    return commands


def healthcheck_shell_lines(service: dict) -> list[str]:
    test = (service.get("healthcheck") or {}).get("test")
    if isinstance(test, list) and test and test[0] == "CMD-SHELL":
        return [" ".join(test[1:])]
    if isinstance(test, str):
        return [test]
    return []


def bind_mounts(service: dict) -> list[tuple[str, str]]:
    """(host path, container path) of the service's bind mounts (short syntax)."""
    mounts = []
    for volume in service.get("volumes") or []:
        source, target = volume.split(":")[:2]
        if source.startswith((".", "/")):
            mounts.append((source, target))
    return mounts


def volume_targets(service: dict) -> dict[str, str]:
    return {volume.split(":")[1]: volume.split(":")[0] for volume in service.get("volumes") or []}


def airflow_services(services) -> dict[str, dict]:
    """The services built from the project's Airflow image and run through Airflow's entrypoint
    or the init script (not the sandbox, which uses the image for the package only)."""
    return {name: svc for name, svc in services.items()
            if name in AIRFLOW_SERVICE_COMMANDS or name == "airflow-init"}


# --- services, images, healthchecks, start order ----------------------------------------------


def test_required_services_exist(services):
    missing = REQUIRED_SERVICES - services.keys()
    assert not missing, f"services missing from docker-compose.yaml: {sorted(missing)}"


def test_every_image_tag_is_pinned(services):
    for name, service in services.items():
        image = service.get("image")
        assert image, f"{name}: no image (a built service still needs a pinned image name)"
        repository, _, tag = image.rpartition(":")
        assert repository and "/" not in tag, f"{name}: image {image!r} has no tag"
        assert tag != "latest", f"{name}: image {image!r} is not pinned"


def pins(lock: str) -> dict[str, str]:
    """name -> version of a lock file (each pin followed by its hashes)."""
    return dict(re.findall(r"^([A-Za-z0-9_.\-]+)==([^\s\\]+)", (ROOT / lock).read_text(), re.M))


def test_the_image_installs_the_runtime_lock_only():
    """Runtime lock: the package's dependencies, no test, lint, demo or chart library; the same
    versions as the development lock; the package itself pins no Airflow release."""
    import tomllib

    runtime, dev = pins("requirements-runtime.lock"), pins("requirements.lock")
    assert "requirements-runtime.lock" in DOCKERFILE.read_text()
    assert not re.search(r"[^-]requirements\.lock", DOCKERFILE.read_text())
    for package in ("pytest", "ruff", "sqlfluff", "hypothesis", "matplotlib", "aiosmtpd",
                    "pandas"):
        assert package not in runtime and package in dev, package
    assert {name: dev.get(name) for name in runtime} == runtime
    assert runtime["apache-airflow"] == dev["apache-airflow"]
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert not [d for d in project["dependencies"] if "==" in d], "ranges, not pins"
    assert {"sandbox", "demo", "dev"} <= set(project["optional-dependencies"])


def test_dockerfile_base_image_is_the_locked_airflow():
    locked = pins("requirements-runtime.lock").get("apache-airflow")
    assert locked, "requirements-runtime.lock does not pin apache-airflow"
    base = re.search(r"^FROM\s+(\S+)", DOCKERFILE.read_text(), re.M)
    assert base, "Dockerfile has no FROM"
    assert base.group(1) == f"apache/airflow:{locked}-python3.11", (
        f"Dockerfile FROM {base.group(1)} does not match the lock's Airflow {locked} "
        "on Python 3.11")


def test_built_services_build_the_dockerfile(services):
    for name, service in services.items():
        if "build" in service:
            build = service["build"]
            context = ROOT / (build["context"] if isinstance(build, dict) else build)
            dockerfile = build.get("dockerfile", "Dockerfile") if isinstance(build, dict) \
                else "Dockerfile"
            assert (context / dockerfile).resolve() == DOCKERFILE, f"{name}: builds {dockerfile}"
    for name in {*airflow_services(services), "sandbox-api"}:
        assert "build" in services[name], f"{name} must be built from the project's Dockerfile"


def test_long_running_services_have_healthchecks(services):
    for name, service in services.items():
        if name in ONE_SHOT_SERVICES:
            assert service.get("restart") in (None, "no"), f"{name} is one-shot: no restart"
            continue
        check = service.get("healthcheck") or {}
        test = check.get("test")
        assert test and not check.get("disable"), f"{name}: no healthcheck"
        assert test not in (["NONE"], "NONE"), f"{name}: healthcheck disabled"
        assert isinstance(test, str) or test[0] in ("CMD", "CMD-SHELL"), f"{name}: {test!r}"


def test_depends_on_waits_for_healthy_or_completed(services):
    for name, service in services.items():
        depends_on = service.get("depends_on") or {}
        assert isinstance(depends_on, dict), f"{name}: depends_on without conditions"
        for target, spec in depends_on.items():
            assert target in services, f"{name} depends on unknown service {target}"
            condition = (spec or {}).get("condition")
            assert condition in DEPENDS_ON_CONDITIONS, f"{name} -> {target}: {condition!r}"
            if condition == "service_healthy":
                assert services[target].get("healthcheck"), f"{target} has no healthcheck"
            else:
                assert target in ONE_SHOT_SERVICES, f"{target} never completes"


def test_airflow_components_start_after_init(services):
    for name in AIRFLOW_SERVICE_COMMANDS:
        condition = (services[name].get("depends_on") or {}).get("airflow-init", {})
        assert condition.get("condition") == "service_completed_successfully", name
    # LocalExecutor: tasks run in the scheduler; they report to the API server's execution API
    # and talk to the warehouse, the report API and the SMTP server.
    scheduler_needs = services["airflow-scheduler"].get("depends_on") or {}
    for service in ("airflow-apiserver", "warehouse", "sandbox-api", "mailpit"):
        assert scheduler_needs.get(service, {}).get("condition") == "service_healthy", service
    execution_api = urlsplit(environment(services["airflow-scheduler"])[
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL"])
    assert execution_api.hostname == "airflow-apiserver" and execution_api.port == 8080
    init_needs = services["airflow-init"].get("depends_on") or {}
    for database in ("airflow-postgres", "warehouse"):
        assert init_needs.get(database, {}).get("condition") == "service_healthy", database


# --- commands ---------------------------------------------------------------------------------


def sales_mart_commands(services) -> list[list[str]]:
    commands = script_commands(init_script(services), "sales-mart")
    sandbox = services["sandbox-api"]
    entrypoint = as_argv(sandbox.get("entrypoint") or [])
    assert entrypoint == ["sales-mart"], f"sandbox-api entrypoint {entrypoint}"
    commands.append(as_argv(sandbox["command"]))
    return commands


def test_sales_mart_commands_parse(services):
    parser = build_parser()
    seen = set()
    for argv in sales_mart_commands(services):
        try:
            args = parser.parse_args(argv)
        except SystemExit:
            pytest.fail(f"`sales-mart {shlex.join(argv)}` does not parse")
        seen.add(tuple(argv[:2]))
        if argv[:2] == ["api", "serve"]:
            assert args.host == "0.0.0.0", "the sandbox must listen beyond its container"
            assert args.api_key is None, "the key belongs in SALES_API_KEY, not on argv (ps)"
    assert {("db", "upgrade"), ("db", "login"), ("api", "serve")} <= seen, seen


def test_pipeline_logs_in_holding_only_sales_loader_and_only_init_knows_the_owner(services):
    """Migrations run as the owner (airflow-init only); the pipeline, as a login that
    `sales-mart db login` makes a member of sales_loader alone (no SET ROLE to undo)."""
    init = environment(services["airflow-init"])
    owner = urlsplit(init["SALES_DWH_URL"])
    commands = script_commands(init_script(services), "sales-mart")
    (login,) = [argv for argv in commands if argv[:2] == ["db", "login"]]
    assert login[2:] == ["${SALES_PIPELINE_USER}", "--role", "sales_loader"]
    assert init["SALES_DWH_LOGIN_PASSWORD"] == init["SALES_PIPELINE_PASSWORD"]

    conn = connections_added(services)["sales_dwh"]
    assert conn["login"] == "${SALES_PIPELINE_USER}"
    assert conn["password"] == "${SALES_PIPELINE_PASSWORD}"
    for name, service in services.items():
        env = environment(service)
        if name == "airflow-init" or "SALES_DWH_URL" not in env:
            continue
        url = urlsplit(env["SALES_DWH_URL"])
        assert url.username != owner.username and url.password != owner.password, name
        assert env.get("SALES_DWH_ROLE") == "", f"{name}: no SET ROLE, the login's own rights"
        assert not any(owner.password in str(v) for v in env.values()), name


def test_sandbox_serves_where_the_connection_points(services, env_example):
    sandbox = services["sandbox-api"]
    port = build_parser().parse_args(as_argv(sandbox["command"])).port
    published = {entry.rsplit(":", 1)[-1].split("/")[0] for entry in sandbox.get("ports", [])}
    assert str(port) in published, f"sandbox port {port} is not the published one {published}"
    api_url = urlsplit(environment(services["airflow-init"])["SALES_API_URL"])
    assert (api_url.scheme, api_url.hostname, api_url.port) == ("http", "sandbox-api", port)
    assert "SALES_API_KEY" in environment(sandbox), "api serve reads its key from SALES_API_KEY"
    assert environment(sandbox)["SALES_API_KEY"] == \
        environment(services["airflow-init"])["SALES_API_KEY"]


def airflow_commands(services) -> list[list[str]]:
    commands = [as_argv(services[name]["command"]) for name in AIRFLOW_SERVICE_COMMANDS]
    for service in services.values():
        for line in healthcheck_shell_lines(service):
            commands += script_commands(line, "airflow")
    return commands + script_commands(init_script(services), "airflow")


# Builds Airflow's own CLI parser and reports the argument lists it rejects.
_AIRFLOW_PARSE_CHECK = """
import contextlib, io, json, sys
from airflow.cli.cli_parser import get_parser
parser = get_parser()
rejected = []
for argv in json.load(sys.stdin):
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            parser.parse_args(argv)
    except SystemExit:
        rejected.append(argv)
print(json.dumps(rejected))
"""


def docs_shell_lines() -> list[str]:
    """The lines of docs/docker.md's shell code blocks, continuation lines joined."""
    blocks = re.findall(r"```(?:bash|sh)\n(.*?)```", DOCS.read_text(), re.S)
    return [line.strip() for block in blocks
            for line in re.sub(r"\\\n\s*", " ", block).splitlines() if line.strip()]


def docs_exec_commands(services) -> dict[str, list[list[str]]]:
    """program -> argument lists of the docs' `docker compose exec SERVICE program ...` lines."""
    found: dict[str, list[list[str]]] = {}
    for line in docs_shell_lines():
        match = re.match(r"docker compose exec (\S+) (airflow|sales-mart) (.*)", line)
        if match:
            service, program, rest = match.groups()
            assert service in services, f"docs/docker.md runs a command in unknown {service}"
            found.setdefault(program, []).extend(script_commands(f"{program} {rest}", program))
    return found


def test_docs_compose_commands_name_real_services(services):
    lines = docs_shell_lines()
    assert lines, "docs/docker.md has no shell code blocks"
    for line in lines:
        line = re.sub(r"\s+#.*$", "", line)
        match = re.match(r"docker compose (?:up -d|restart|logs|build)((?: [a-z][\w-]*)*)$", line)
        if match:
            for service in match.group(1).split():
                assert service in services, f"docs/docker.md: {line!r} names unknown {service}"
    assert docs_exec_commands(services).get("airflow"), "docs show no airflow command"


def test_airflow_commands_parse(services, tmp_path):
    commands = airflow_commands(services) + docs_exec_commands(services).get("airflow", [])
    for name, command in AIRFLOW_SERVICE_COMMANDS.items():
        assert as_argv(services[name]["command"]) == [command], name
    issued = {tuple(argv[:2]) for argv in commands}
    assert {("db", "migrate"), ("connections", "add"), ("variables", "set"),
            ("jobs", "check")} <= issued, issued
    # A subprocess: importing Airflow configures it for the whole interpreter.
    result = subprocess.run(
        [sys.executable, "-c", _AIRFLOW_PARSE_CHECK], input=json.dumps(commands),
        capture_output=True, text=True, timeout=120,
        env={"PATH": "/usr/bin:/bin", "AIRFLOW_HOME": str(tmp_path), "HOME": str(tmp_path)},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    rejected = json.loads(result.stdout.strip().splitlines()[-1])
    assert not rejected, "airflow rejects: " + "; ".join(shlex.join(a) for a in rejected)


def test_init_script_is_valid_bash(services):
    result = subprocess.run(["bash", "-n", "-c", init_script(services)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert init_script(services).lstrip().startswith("set -euo pipefail"), \
        "the init must stop at its first failing step"


# --- connections and variables ------------------------------------------------------------------


def connections_added(services) -> dict[str, dict[str, str]]:
    """conn id -> the --conn-* options of its `airflow connections add`."""
    added = {}
    for argv in script_commands(init_script(services), "airflow"):
        if argv[:2] != ["connections", "add"]:
            continue
        options, rest = {}, argv[3:]
        for flag, value in zip(rest[::2], rest[1::2], strict=True):
            options[flag.removeprefix("--conn-")] = value
        added[argv[2]] = options
    return added


def test_connections_are_the_spec_ones(services):
    added = connections_added(services)
    assert {conn_id: opts.get("type") for conn_id, opts in added.items()} == SPEC_CONNECTIONS
    runtime = environment(services["airflow-init"])

    def expand(value: str) -> str:
        return _SHELL_VARIABLE.sub(lambda m: runtime[m.group(1) or m.group(2)], value)

    api = added["sales_api"]
    assert urlsplit(expand(api["host"])).scheme in ("http", "https"), "host = URL with scheme"
    assert expand(api["password"]), "sales_api needs the API key as password"
    assert set(json.loads(expand(api["extra"]))) >= {"nickname", "cohort"}
    # the client accepts that connection: https, or plain http to the sandbox by explicit extra
    from airflow.models.connection import Connection

    from sales_mart.api_client import ReportApiClient

    ReportApiClient.from_airflow_connection(Connection(
        conn_id="sales_api", conn_type="http", host=expand(api["host"]),
        password=expand(api["password"]), extra=expand(api["extra"]))).close()

    dwh = urlsplit(environment(services["airflow-scheduler"])["SALES_DWH_URL"])
    conn = added["sales_dwh"]
    assert (expand(conn["host"]), int(expand(conn["port"])), expand(conn["schema"]),
            expand(conn["login"]), expand(conn["password"])) == \
        (dwh.hostname, dwh.port, dwh.path.lstrip("/"), dwh.username, dwh.password), \
        "sales_dwh and SALES_DWH_URL must name the same warehouse"
    assert dwh.hostname in services, f"SALES_DWH_URL host {dwh.hostname} is not a service"

    smtp = added["sales_smtp"]
    assert expand(smtp["host"]) in services, "sales_smtp must point at a service (Mailpit)"
    assert int(expand(smtp["port"])) == 1025
    json.loads(expand(smtp["extra"]))


def test_connection_ids_match_the_dag_code(services):
    """The ids the pipeline code uses (`*_CONN_ID` constants) are the ones the stack creates."""
    tree = ast.parse((ROOT / "sales_mart" / "airflow" / "settings.py").read_text())
    used = {
        node.value.value
        for node in tree.body
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
        and any(isinstance(t, ast.Name) and t.id.endswith("_CONN_ID") for t in node.targets)
    }
    assert used == set(connections_added(services)) == set(SPEC_CONNECTIONS), used


def test_variables_the_dags_require_are_set(services):
    variables_set = {argv[2] for argv in script_commands(init_script(services), "airflow")
                     if argv[:2] == ["variables", "set"]}
    assert SPEC_ALERT_VARIABLE in variables_set
    # `var.value.NAME` in a template has no default: the run fails without the Variable.
    code = "".join(path.read_text() for path in
                   [*sorted((ROOT / "sales_mart" / "airflow").glob("*.py")),
                    *sorted((ROOT / "dags").glob("*.py"))])
    required = set(re.findall(r"var\.value\.([a-z_][a-z0-9_]*)\b(?!\()", code)) - {"get"}
    assert required <= variables_set, f"Variables the DAGs need but the stack does not set: " \
        f"{sorted(required - variables_set)}"


# --- files: mounts, Dockerfile, dags --------------------------------------------------------------


def test_mounted_host_paths_exist(services, compose):
    declared_volumes = set(compose.get("volumes") or {})
    for name, service in services.items():
        for volume in service.get("volumes") or []:
            source = volume.split(":")[0]
            if source.startswith((".", "/")):
                assert (ROOT / source).exists(), f"{name} mounts missing {source}"
            else:
                assert source in declared_volumes, f"{name}: volume {source} not declared"
    for name, service in airflow_services(services).items():
        mounts = dict(bind_mounts(service))
        assert mounts.get("./dags") == "/opt/airflow/dags", f"{name}: ./dags not at the DAG folder"
        assert mounts.get("./db") == "/opt/airflow/db", f"{name}: ./db not mounted"


def test_settings_point_into_the_mounts(services):
    for name, service in airflow_services(services).items():
        env, targets = environment(service), volume_targets(service)
        assert targets.get(env.get("SALES_MART_DB_DIR")) == "./db", \
            f"{name}: SALES_MART_DB_DIR is not where ./db is mounted"
        landing = env.get("SALES_MART_LANDING_DIR")
        assert landing in targets and not targets[landing].startswith("."), \
            f"{name}: the landing folder must be a named volume shared by the Airflow services"
    # The pipeline reads the landing folder under this name (Variable or env in upper case).
    assert '"sales_mart_landing_dir"' in (ROOT / "sales_mart" / "airflow" / "settings.py").read_text()


def dockerignore_excludes(path: str) -> bool:
    """Docker's rule: the last matching pattern wins; `!` re-includes."""
    excluded = False
    for pattern in DOCKERIGNORE.read_text().splitlines():
        pattern = pattern.strip()
        if not pattern or pattern.startswith("#"):
            continue
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").strip("/")
        if fnmatch.fnmatch(path, pattern) or fnmatch.fnmatch(path, pattern.removeprefix("**/")):
            excluded = not negate
    return excluded


def test_dockerfile_copies_exist_in_the_build_context():
    copies = re.findall(r"^COPY\s+(?:--\S+\s+)*(.+?)\s+(\S+)\s*$", DOCKERFILE.read_text(), re.M)
    sources = [source for group, _ in copies for source in group.split()]
    assert {"requirements-runtime.lock", "pyproject.toml", "sales_mart", "db", "dags"} <= \
        set(sources)
    for source in sources:
        assert (ROOT / source).exists(), f"Dockerfile copies missing {source}"
        assert not dockerignore_excludes(source), f".dockerignore excludes {source}"
    assert dockerignore_excludes(".env"), ".env (secrets) must stay out of the build context"
    assert dockerignore_excludes(".venv")


def test_dockerfile_paths_match_the_mounts():
    """The DAG files where the compose file mounts them; db/ built into the installed package
    (no SALES_MART_DB_DIR in the image: the compose file sets it for its ./db mount only)."""
    text = DOCKERFILE.read_text()
    assert re.search(r"^COPY\s+(?:--\S+\s+)*dags\s+/opt/airflow/dags\s*$", text, re.M)
    assert re.search(r"^COPY\s+(?:--\S+\s+)*db\s+/opt/sales_mart/db\s*$", text, re.M)
    assert re.search(r"^RUN pip install --no-cache-dir --no-deps /opt/sales_mart\s*$", text, re.M)
    assert "SALES_MART_DB_DIR" not in text
    assert "--hash=sha256:" in (ROOT / "requirements-runtime.lock").read_text()


def test_dags_folder_holds_the_spec_dags():
    dags = ROOT / "dags"
    assert dags.is_dir(), "dags/ is mounted into Airflow and must exist"
    dag_ids = {dag_id for path in dags.glob("*.py")
               for dag_id in re.findall(r"dag_id\s*=\s*[\"']([^\"']+)", path.read_text())}
    assert SPEC_DAG_IDS <= dag_ids, f"DAG ids in dags/: {sorted(dag_ids)}"
    docs = DOCS.read_text()
    for dag_id in dag_ids:
        assert dag_id in docs, f"docs/docker.md does not say how to run {dag_id}"


# --- variables ------------------------------------------------------------------------------


def test_env_example_lists_every_compose_variable(env_example):
    used = compose_variables(yaml.safe_load(COMPOSE_FILE.read_text()))
    missing = set(used) - env_example.keys()
    assert not missing, f".env.example lacks {sorted(missing)}"
    unused = env_example.keys() - set(used)
    assert not unused, f".env.example lists variables the compose file never reads: {unused}"
    for name, op in used.items():
        if op in (":?", "?"):
            assert env_example[name], f"{name} is required: .env.example needs a placeholder"


def test_env_example_holds_no_real_secrets(env_example):
    for name, value in env_example.items():
        if re.search(r"PASSWORD|SECRET|_KEY$", name):
            assert value == "" or value.startswith("change-me"), \
                f".env.example: {name} must be a change-me placeholder, not a real secret"


def test_shell_variables_come_from_the_service_environment(services):
    """`$${VAR}` is expanded by the container's shell: the service must define VAR."""
    for name, service in services.items():
        defined = environment(service).keys() | RUNTIME_PROVIDED_VARIABLES
        texts = healthcheck_shell_lines(service)
        if name == "airflow-init":
            script = init_script(services)
            # loop variables of the script itself
            defined |= set(re.findall(r"\bfor\s+([A-Za-z_]\w*)\s+in\b", script))
            texts.append(script)
        for text in texts:
            for match in _SHELL_VARIABLE.finditer(text):
                variable = match.group(1) or match.group(2)
                assert variable in defined, f"{name}: ${variable} is not in its environment"


def test_docs_say_how_to_run_it():
    docs = DOCS.read_text()
    for step in ("cp .env.example .env", "docker compose up -d", "docker compose up -d warehouse",
                 "http://127.0.0.1:8080", "http://127.0.0.1:8025"):
        assert step in docs, f"docs/docker.md lacks {step!r}"


# --- refusing placeholder secrets ---------------------------------------------------------------


def test_the_stack_refuses_to_start_with_a_placeholder_or_without_a_fernet_key(services,
                                                                           env_example):
    """check-env gets every secret of .env; every other service waits for it to succeed; with
    .env.example as it ships it fails, naming each placeholder and never printing a value."""
    from sales_mart import envcheck

    check = services["check-env"]
    assert check.get("entrypoint") == ["python", "-m", "sales_mart.envcheck"]
    for name, service in services.items():
        if name != "check-env":
            condition = (service.get("depends_on") or {}).get("check-env", {}).get("condition")
            assert condition == "service_completed_successfully", name
    given = environment(check)
    placeholders = {k for k, v in env_example.items() if v.startswith("change-me")}
    compose_file = COMPOSE_FILE.read_text()
    for variable in placeholders:  # every change-me of .env reaches the check
        assert f"${{{variable}:" in compose_file
    assert set(envcheck.SECRETS) == set(given)
    assert given["AIRFLOW__CORE__FERNET_KEY"] == env_example["AIRFLOW_FERNET_KEY"]
    assert len(envcheck.problems(given)) == len(envcheck.SECRETS)  # all placeholders

    done = subprocess.run([sys.executable, "-m", "sales_mart.envcheck"], capture_output=True,
                          text=True, env={"PATH": "/usr/bin:/bin", **given}, cwd=ROOT)
    assert done.returncode == 1
    for name in envcheck.SECRETS:
        assert name in done.stderr
    assert not [v for v in given.values() if v in done.stderr + done.stdout]

    from cryptography.fernet import Fernet

    good = {name: f"s3cret-{n}-{name.lower()}" for n, name in enumerate(envcheck.SECRETS)}
    assert envcheck.problems({**good, "AIRFLOW__CORE__FERNET_KEY": "not-a-key"}) == [
        "AIRFLOW__CORE__FERNET_KEY is not a Fernet key (32 url-safe base64-encoded bytes)"]
    good["AIRFLOW__CORE__FERNET_KEY"] = Fernet.generate_key().decode()
    done = subprocess.run([sys.executable, "-m", "sales_mart.envcheck"], capture_output=True,
                          text=True, env={"PATH": "/usr/bin:/bin", **good}, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    # the Fernet key is required by the Airflow services too (compose's own ${...:?} check)
    assert compose_variables(yaml.safe_load(compose_file))["AIRFLOW_FERNET_KEY"] == ":?"
