"""docker/: what can be checked without a Docker daemon.

The compose file and the Dockerfile are parsed and held against the code: the commands they run
exist (``nianbao`` subcommands and options, Prefect CLI commands), the files they COPY exist and
pass the build-context filter, the environment names the variables the code reads, ports listen on
loopback only, volumes are declared, and no tracked file holds a secret value. docs/deploy.md's
commands are checked the same way.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from fnmatch import fnmatch
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import typer.main
import yaml

from connectors.settings import ImapSettings, SmtpSettings, load_mail_settings
from flows.cli import app as cli_app
from office.settings import DATA_ENV, load_app_config

ROOT = Path(__file__).resolve().parent.parent
DOCKER = ROOT / "docker"
COMPOSE = DOCKER / "compose.yaml"
WORKER_COMPOSE = DOCKER / "compose.worker.yaml"
COUNTY_COMPOSE = DOCKER / "compose.county.yaml"
DOCKERFILE = DOCKER / "Dockerfile"
DOCKERIGNORE = DOCKER / "Dockerfile.dockerignore"
ENV_EXAMPLE = DOCKER / ".env.example"
COUNTY_ENV_EXAMPLE = DOCKER / ".env.county.example"
DEV_MAIL = DOCKER / "dev" / "mail.yaml"
DEPLOY_DOC = ROOT / "docs" / "deploy.md"
PREFECT_YAML = ROOT / "prefect.yaml"
SERVICES = {"postgres", "prefect-server", "app", "mailpit"}
_INTERPOLATION = re.compile(r"\$\{(\w+)(?:(:?[-?])([^}]*))?\}")


# -- helpers -----------------------------------------------------------------------------------


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def default_of(value: str) -> str:
    """A compose value with ``${VAR:-default}`` replaced by its default, other ``${…}`` by ''."""
    return _INTERPOLATION.sub(lambda m: m.group(3) if m.group(2) in (":-", "-") else "", value)


def dockerfile_instructions(path: Path = DOCKERFILE) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for line in path.read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if pending and stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        full = pending + stripped
        pending = ""
        keyword, _, args = full.partition(" ")
        instructions.append((keyword.upper(), args.strip()))
    assert not pending, "Dockerfile ends inside a continued line"
    return instructions


def instruction_args(keyword: str) -> list[str]:
    return [args for kw, args in dockerfile_instructions() if kw == keyword]


def dockerfile_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for args in instruction_args("ENV"):
        for item in shlex.split(args):
            name, sep, value = item.partition("=")
            assert sep, f"ENV {args!r}: use the NAME=value form"
            env[name] = value
    return env


def cli_commands() -> dict[str, Any]:
    return typer.main.get_command(cli_app).commands


def check_nianbao_command(argv: list[str]) -> None:
    """``nianbao SUBCOMMAND [--option value]...``: the subcommand and its options exist."""
    assert argv[0] == "nianbao", argv
    commands = cli_commands()
    assert len(argv) > 1 and argv[1] in commands, f"{argv}: no such nianbao command"
    options = {opt for p in commands[argv[1]].params for opt in p.opts + p.secondary_opts}
    for word in argv[2:]:
        if word.startswith("-"):
            assert word.split("=")[0] in options, f"{argv}: {argv[1]} has no option {word}"


_PREFECT_HELP = r"""
import contextlib, io, json, re, sys
from prefect.cli import app

def help_of(path):
    out = io.StringIO()
    sys.argv = ["prefect", *path, "--help"]
    with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):
        app()
    return out.getvalue()

results = []
for argv in json.loads(sys.argv[1]):
    path, rest = [], [w for w in argv[1:] if not w.startswith("-")]
    while rest and re.search(r"^\W\s+" + re.escape(rest[0]) + r"\b", help_of(path), re.M):
        path.append(rest.pop(0))
    text = help_of(path)
    missing = [w for w in argv[1:] if w.startswith("--") and w != "--no-prompt" and w not in text]
    if rest and "─ Commands " in text:  # a group: the next word had to be one of its commands
        missing.append(rest[0])
    results.append({"path": path, "missing": missing})
print(json.dumps(results))
"""


def check_prefect_commands(commands: list[list[str]]) -> None:
    """``prefect GROUP COMMAND --option...``: each command and its options exist (one process)."""
    for argv in commands:
        assert argv[0] == "prefect", argv
    result = subprocess.run(
        [sys.executable, "-c", _PREFECT_HELP, json.dumps(commands)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "DO_NOT_TRACK": "1", "COLUMNS": "200"},
    )
    assert result.returncode == 0, result.stderr
    for argv, found in zip(commands, json.loads(result.stdout.splitlines()[-1]), strict=True):
        assert found["path"], f"{argv}: no such prefect command"
        assert not found["missing"], (
            f"{argv}: prefect {' '.join(found['path'])} has no {found['missing']}"
        )


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return load_yaml(COMPOSE)


@pytest.fixture(scope="module")
def services(compose) -> dict[str, Any]:
    return compose["services"]


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.partition("=")[::2] for item in env)
    return {k: str(v) for k, v in env.items()}


def env_file_names(path: Path) -> dict[str, str]:
    found = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, sep, value = line.partition("=")
            assert sep, f"{path.name}: {line!r} is not NAME=value"
            found[name.strip()] = value
    return found


def split_volume(spec: str) -> tuple[str, str, str]:
    source, target, *mode = spec.split(":")
    return source, target, mode[0] if mode else "rw"


# -- compose.yaml --------------------------------------------------------------------------------


def test_compose_has_the_four_services_with_images_or_builds(services):
    assert set(services) >= SERVICES
    for name, service in services.items():
        assert service.get("image") or service.get("build"), f"{name}: no image, no build"
        build = service.get("build")
        if build:
            context = (DOCKER / build["context"]).resolve()
            assert context == ROOT, f"{name}: build from the repository root"
            assert (context / build["dockerfile"]).is_file(), f"{name}: {build['dockerfile']}"
        assert service.get("restart") == "unless-stopped", name
    assert services["postgres"]["image"].startswith("postgres:16")
    assert services["prefect-server"]["image"] == "prefecthq/prefect:3-python3.11"
    assert services["mailpit"]["image"].startswith("axllent/mailpit")


def test_ports_listen_on_loopback_only(services):
    for name, service in services.items():
        for port in service.get("ports") or []:
            assert isinstance(port, str) and port.startswith("127.0.0.1:"), (
                f"{name}: port {port!r} must be published on 127.0.0.1 only"
            )
    assert not services["postgres"].get("ports"), "PostgreSQL stays inside the compose network"
    assert not services["app"].get("ports")


def test_volumes_are_declared_and_bind_sources_exist(compose, services):
    declared = set(compose.get("volumes") or {})
    used = set()
    for name, service in services.items():
        for spec in service.get("volumes") or []:
            source, target, _ = split_volume(default_of(spec))
            assert PurePosixPath(target).is_absolute(), f"{name}: {spec}"
            if source.startswith((".", "/")):
                assert (DOCKER / source).exists(), f"{name}: bind source {source} is missing"
            else:
                assert source in declared, f"{name}: volume {source!r} not declared"
                used.add(source)
    assert used == declared, f"declared but unused: {declared - used}"
    assert any(
        split_volume(v)[1] == "/var/lib/postgresql/data" for v in services["postgres"]["volumes"]
    )


def test_every_service_is_health_checked_and_dependencies_exist(services):
    for name, service in services.items():
        if name != "app":  # the app's health check is in its Dockerfile
            assert service.get("healthcheck", {}).get("test"), f"{name}: no healthcheck"
        for dependency, condition in (service.get("depends_on") or {}).items():
            assert dependency in services, f"{name} depends on unknown {dependency}"
            if services[dependency].get("healthcheck"):
                assert condition == {"condition": "service_healthy"}, f"{name} → {dependency}"


def test_prefect_server_uses_postgres_with_asyncpg(services):
    server, postgres = services["prefect-server"], services["postgres"]
    assert server["command"] == ["prefect", "server", "start"]
    check_prefect_commands([server["command"]])
    # the address in the environment, which tests/test_server.py translates to loopback
    env = environment(server)
    assert (env["PREFECT_SERVER_API_HOST"], env["PREFECT_SERVER_API_PORT"]) == ("0.0.0.0", "4200")
    assert server["ports"] == ["127.0.0.1:4200:4200"]
    url = env["PREFECT_API_DATABASE_CONNECTION_URL"]
    pg = environment(postgres)
    match = re.fullmatch(r"postgresql\+asyncpg://(\w+):(.+)@([\w-]+):5432/(\w+)", url)
    assert match, url
    user, password, host, database = match.groups()
    assert (user, host, database) == (pg["POSTGRES_USER"], "postgres", pg["POSTGRES_DB"])
    assert password.startswith("${POSTGRES_PASSWORD"), "the password comes from docker/.env"
    assert pg["POSTGRES_PASSWORD"].startswith("${POSTGRES_PASSWORD:?")
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])


def test_prefect_server_keeps_a_year_of_history(services, monkeypatch):
    """The retention settings are ones Prefect reads, with the values docs/scale.md assumes."""
    from datetime import timedelta

    from prefect.settings import Settings

    for name, value in environment(services["prefect-server"]).items():
        if name.startswith("PREFECT_SERVER_SERVICES_DB_VACUUM_"):
            monkeypatch.setenv(name, value)
    vacuum = Settings().server.services.db_vacuum
    assert vacuum.enabled == {"events", "flow_runs"}
    assert vacuum.retention_period == timedelta(days=400)


def test_no_telemetry(services):
    for name in ("prefect-server", "app"):
        env = environment(services[name])
        assert env.get("DO_NOT_TRACK") == "1", name
        assert env.get("PREFECT_SERVER_ANALYTICS_ENABLED") == "false", name
    image_env = dockerfile_env()
    assert image_env["DO_NOT_TRACK"] == "1"
    assert image_env["PREFECT_SERVER_ANALYTICS_ENABLED"] == "false"


def test_app_runs_a_real_nianbao_command(services):
    app = services["app"]
    command = app["command"]
    check_nianbao_command(command)
    assert command == json.loads(instruction_args("CMD")[-1]), "compose and Dockerfile agree"


def test_each_office_worker_polls_the_pool_prefect_yaml_deploys_to(services):
    """compose.worker.yaml (the city) and compose.county.yaml (a county): a worker on the pool
    named NIANBAO_OFFICE, which prefect.yaml's deployments use, each office with its own
    configuration, data volume and env file."""
    pools = {d["work_pool"]["name"] for d in load_yaml(PREFECT_YAML)["deployments"]}
    assert pools == {"{{ $NIANBAO_OFFICE }}"}
    app = services["app"]
    county = load_yaml(COUNTY_COMPOSE)["services"]["county"]
    offices = {
        "app": ({**app, **load_yaml(WORKER_COMPOSE)["services"]["app"]}, "nianbao-data"),
        "county": (county, "county-data"),
    }
    seen = set()
    for name, (service, volume) in offices.items():
        worker = service["command"]
        check_prefect_commands([worker])
        assert worker[:3] == ["prefect", "worker", "start"]
        assert "--with-healthcheck" in worker and worker[worker.index("--type") + 1] == "process"
        env = environment(service)
        pool = worker[worker.index("--pool") + 1]
        assert pool == env["NIANBAO_OFFICE"], f"{name}: the worker polls its office's pool"
        office = default_of(pool)
        assert re.fullmatch(r"[a-z][a-z0-9-]*", office) and office not in seen
        seen.add(office)
        assert env["PREFECT_API_URL"] == "http://prefect-server:4200/api"
        assert env["NIANBAO_CONFIG"] == "/app/config"
        mounts = {
            split_volume(default_of(v))[1]: split_volume(default_of(v)) for v in service["volumes"]
        }
        assert mounts["/app/config"][2] == "ro"
        assert mounts[env[DATA_ENV]][0] == volume
        assert len(service["env_file"]) == 1
    # the county's own: data volume declared, passwords not the city's env file
    assert set(load_yaml(COUNTY_COMPOSE)["volumes"]) == {"county-data"}
    assert county["env_file"] != app["env_file"]
    assert county["image"] == app["image"]
    assert county["depends_on"] == {"prefect-server": {"condition": "service_healthy"}}
    names = set(env_file_names(COUNTY_ENV_EXAMPLE))
    assert names == {"NIANBAO_SMTP_PASSWORD", "NIANBAO_IMAP_PASSWORD"}
    assert not any(env_file_names(COUNTY_ENV_EXAMPLE).values())


def test_app_environment_names_what_the_code_reads(services):
    app = services["app"]
    env = environment(app)
    assert env["PREFECT_API_URL"] == "http://prefect-server:4200/api"
    assert "prefect-server" in services
    assert "4200" in services["prefect-server"]["ports"][0]
    # the data directory (office.settings reads NIANBAO_DATA) is the data volume
    targets = {split_volume(default_of(v))[1]: default_of(v) for v in app["volumes"]}
    assert env[DATA_ENV] in targets
    assert not split_volume(targets[env[DATA_ENV]])[0].startswith((".", "/"))
    # config/ mounted read-only where the command and NIANBAO_CONFIG look for it
    command = app["command"]
    config_dir = command[command.index("--config") + 1]
    assert env["NIANBAO_CONFIG"] == config_dir
    assert split_volume(targets[config_dir])[2] == "ro"
    # secrets: env_file .env (ignored by git), and its template names the password variables
    assert app["env_file"] == [".env"]
    names = set(env_file_names(ENV_EXAMPLE))
    wanted = {
        SmtpSettings.model_fields["password_env"].default,
        ImapSettings.model_fields["password_env"].default,
    }
    mail = load_mail_settings(ROOT / "config")
    wanted |= {mail.smtp.password_env} | ({mail.imap.password_env} if mail.imap else set())
    assert wanted == {"NIANBAO_SMTP_PASSWORD", "NIANBAO_IMAP_PASSWORD"}
    assert wanted | {"POSTGRES_PASSWORD"} <= names
    for value in env_file_names(ENV_EXAMPLE).values():
        assert value == "", ".env.example holds names, never values"


def test_dot_env_is_ignored_by_git():
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    for secret in ("docker/.env", "docker/.env.county"):
        result = subprocess.run(
            ["git", "check-ignore", "-q", secret], cwd=ROOT, capture_output=True
        )
        assert result.returncode == 0, f"{secret} must be ignored by git"
    for template in ("docker/.env.example", "docker/.env.county.example"):
        result = subprocess.run(
            ["git", "check-ignore", "-q", template], cwd=ROOT, capture_output=True
        )
        assert result.returncode == 1, f"{template} must not be ignored"


def test_compose_variables_are_documented(compose):
    """Every ${VAR} of the compose files is in .env.example."""
    names = set(env_file_names(ENV_EXAMPLE))
    for path in (COMPOSE, WORKER_COMPOSE, COUNTY_COMPOSE):
        for match in _INTERPOLATION.finditer(path.read_text(encoding="utf-8")):
            name, text = match.group(1), match.group(0)
            assert name in names or (match.group(2) == ":-" and name.startswith("NIANBAO_HOST_")), (
                f"{path.name}: {text}: add {name} to docker/.env.example"
            )


def test_dev_mail_settings_use_mailpit_and_the_drop_folder(tmp_path, services):
    config = tmp_path / "config"
    shutil.copytree(ROOT / "config", config)
    shutil.copy(DEV_MAIL, config / "mail.yaml")
    app_config = load_app_config(config, tmp_path / "nianbao-data")
    smtp = app_config.mail.smtp
    assert smtp.host == "mailpit" and smtp.host in services
    assert (smtp.port, smtp.security, smtp.user) == (1025, "none", None)
    assert app_config.mail.imap is None, "Mailpit has no IMAP"
    data = tmp_path / "nianbao-data"
    assert app_config.mail.drop_dir == data / "drop"
    assert app_config.mail.archive_dir == data / "mail"
    mounts = {split_volume(default_of(v))[1]: default_of(v) for v in services["app"]["volumes"]}
    assert split_volume(mounts["/app/config/mail.yaml"])[::2] == ("./dev/mail.yaml", "ro")


# -- Dockerfile ----------------------------------------------------------------------------------


def test_dockerfile_base_user_workdir():
    instructions = dockerfile_instructions()
    assert instructions[0] == ("FROM", "python:3.11-slim-bookworm")
    user = instruction_args("USER")[-1]
    assert user not in ("root", "0")
    useradd = [a for a in instruction_args("RUN") if "useradd" in a]
    assert useradd and re.search(rf"\b{re.escape(user)}\s*(&&|$)", useradd[0]), useradd
    # CMD after USER: the app never runs as root
    keywords = [kw for kw, _ in instructions]
    assert keywords.index("USER") < keywords.index("CMD")
    workdir = instruction_args("WORKDIR")[-1]
    # no pull step: `prefect deploy`, run in the image (docker compose run: its WORKDIR), records
    # WORKDIR as the directory flow runs start in
    assert load_yaml(PREFECT_YAML).get("pull") is None
    assert "COPY prefect.yaml ./" in [f"COPY {a}" for a in instruction_args("COPY")]
    env = dockerfile_env()
    assert env["PYTHONPATH"] == workdir, "flows load from WORKDIR, as prefect.yaml's entrypoints"


def test_dockerfile_copies_existing_files_through_the_context_filter():
    patterns = [
        line.strip()
        for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert patterns[0] == "*", "Dockerfile.dockerignore is an allowlist"
    allowed = {p[1:].rstrip("/") for p in patterns if p.startswith("!")}
    copied = []
    for args in instruction_args("COPY"):
        *sources, _dest = shlex.split(args)
        for source in sources:
            assert not source.startswith("--"), f"COPY {args}: no --from/--chown expected"
            path = ROOT / source
            assert path.exists(), f"COPY {source}: not in the repository"
            top = PurePosixPath(source.rstrip("/")).parts[0]
            assert top in allowed, f"COPY {source}: excluded by {DOCKERIGNORE.name}"
            copied.append(source.rstrip("/"))
    for name in allowed:
        assert name in copied, f"{DOCKERIGNORE.name} lets in {name}, which is never copied"
    for secret in (".env", "docker/.env", "nianbao-data", ".venv", ".git", "var"):
        assert not any(fnmatch(secret, a) for a in allowed), secret


def test_pip_install_has_the_whole_project():
    """``pip install -c constraints.txt .`` runs after pyproject, the constraints, the readme
    and every package are copied (the image gets the versions the tests passed with)."""
    import tomllib

    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    packages = {
        p.rstrip("*") for p in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    }
    needed = {"pyproject.toml", "constraints.txt", pyproject["project"]["readme"], *packages}
    copied: set[str] = set()
    for keyword, args in dockerfile_instructions():
        if keyword == "COPY":
            copied |= {s.rstrip("/") for s in shlex.split(args)[:-1]}
        install = r"pip install( --\S+)* -c constraints\.txt \.(\s|$)"
        if keyword == "RUN" and re.search(install, args):
            assert needed <= copied, f"pip install . before {needed - copied} is copied"
            for target in re.findall(r"compileall -q ([\w ]+)", args):
                assert set(target.split()) <= packages
            break
    else:
        pytest.fail("the Dockerfile never runs `pip install -c constraints.txt .`")
    assert "nianbao" in pyproject["project"]["scripts"]


def test_dockerfile_debian_packages_exist_in_bookworm():
    runs = [a for a in instruction_args("RUN") if "apt-get install" in a]
    assert len(runs) == 1
    run = runs[0]
    assert "--no-install-recommends" in run and "rm -rf /var/lib/apt/lists/*" in run
    words = run.split("apt-get install", 1)[1].split("&&")[0].split()
    packages = [w for w in words if not w.startswith(("-", "$"))]
    assert "tzdata" in packages, "zoneinfo needs the time-zone database (Asia/Shanghai)"
    optional = re.search(r'EXTRA_PACKAGES="([^"]+)"', DOCKERFILE.read_text(encoding="utf-8"))
    packages += optional.group(1).split() if optional else []
    apt_cache = shutil.which("apt-cache")
    os_release = Path("/etc/os-release")
    if not apt_cache or "bookworm" not in (os_release.read_text() if os_release.exists() else ""):
        pytest.skip("needs apt-cache on Debian bookworm to look the packages up")
    for package in packages:
        result = subprocess.run(
            [apt_cache, "policy", package], capture_output=True, text=True, timeout=60
        )
        candidate = re.search(r"Candidate: (\S+)", result.stdout)
        assert candidate and candidate.group(1) != "(none)", f"no Debian package {package}"


def test_dockerfile_cmd_and_healthcheck():
    cmd = json.loads(instruction_args("CMD")[-1])
    assert cmd == ["nianbao", "serve", "--config", "/app/config"]
    check_nianbao_command(cmd)
    env = dockerfile_env()
    assert env["NIANBAO_CONFIG"] == cmd[-1]
    # the data volume is where load_app_config puts data beside /app/config
    volume = json.loads(instruction_args("VOLUME")[-1])
    assert volume == [env[DATA_ENV]] == [str(PurePosixPath(cmd[-1]).parent / "nianbao-data")]
    # /health of `serve` (runner webserver) and of `prefect worker start --with-healthcheck`
    from prefect.settings import get_current_settings

    health = instruction_args("HEALTHCHECK")[-1]
    options, _, probe = health.partition("CMD")
    assert re.search(r"--start-period=\d+s", options)
    probe_argv = json.loads(probe)
    assert probe_argv[0] == "python"
    port = int(re.search(r"localhost:(\d+)/health", probe_argv[-1]).group(1))
    settings = get_current_settings()
    assert env["PREFECT_RUNNER_SERVER_ENABLE"] == "true"
    assert port == settings.runner.server.port == settings.worker.webserver.port


# -- secrets ---------------------------------------------------------------------------------------

_SECRET_KEY = re.compile(
    r"^\s*#?\s*-?\s*(?P<key>[\w.-]*(password|passwd|secret|token)[\w.-]*)\s*:\s*(?P<value>.*)$",
    re.I,
)
_URL_PASSWORD = re.compile(r"://[^/\s:@]+:([^@\s]+)@")


def project_files(*parts: str) -> list[Path]:
    """Tracked and new (not ignored) files under the given paths."""
    if shutil.which("git") and (ROOT / ".git").exists():
        result = subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard", "--", *parts],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        return [ROOT / line for line in result.stdout.splitlines() if (ROOT / line).is_file()]
    return [p for part in parts for p in (ROOT / part).rglob("*") if p.is_file()]


def test_no_secret_values_in_project_files():
    files = project_files("config", "docker", "prefect.yaml")
    assert DOCKERFILE in files and COMPOSE in files
    for path in files:
        text = path.read_text(encoding="utf-8", errors="replace")
        for number, line in enumerate(text.splitlines(), 1):
            where = f"{path.relative_to(ROOT)}:{number}"
            if path.suffix in (".yaml", ".yml"):
                match = _SECRET_KEY.match(line)
                # password_env names a variable, it holds no value
                if match and not match["key"].lower().endswith("_env"):
                    value = match["value"].split(" #")[0].strip().strip("'\"")
                    assert value in ("", "null", "~") or value.startswith("${"), (
                        f"{where}: a secret value; use an environment variable or docker/.env"
                    )
            for found in _URL_PASSWORD.finditer(line):
                assert found.group(1).startswith("${"), f"{where}: a password inside a URL"
            if path.name.startswith(".env"):
                name, _, value = line.partition("=")
                if re.search("PASSWORD|SECRET|TOKEN", name) and not line.startswith("#"):
                    assert not value.strip(), f"{where}: a secret value in a tracked file"


def test_the_secret_check_catches_a_password():
    assert _SECRET_KEY.match("    password: hunter2")["value"] == "hunter2"
    assert _SECRET_KEY.match("  password_env: NIANBAO_SMTP_PASSWORD")["key"] == "password_env"
    assert _SECRET_KEY.match("      POSTGRES_PASSWORD: s3cret")
    assert _URL_PASSWORD.search("postgresql+asyncpg://prefect:s3cret@postgres:5432/prefect")
    assert (
        _URL_PASSWORD.search("x://prefect:${POSTGRES_PASSWORD}@postgres").group(1).startswith("${")
    )


# -- docs/deploy.md ------------------------------------------------------------------------------


def doc_commands() -> list[str]:
    """Shell command lines in docs/deploy.md: fenced blocks and inline code."""
    text = DEPLOY_DOC.read_text(encoding="utf-8")
    lines = []
    for block in re.findall(r"```bash\n(.*?)```", text, re.S):
        lines += [line.strip() for line in block.splitlines()]
    lines += re.findall(r"`([^`\n]+)`", re.sub(r"```.*?```", "", text, flags=re.S))
    return [line for line in lines if line and not line.startswith("#")]


def test_deploy_doc_commands_exist(services):
    nianbao_seen = compose_seen = 0
    prefect_commands: list[list[str]] = []
    for line in doc_commands():
        line = line.split(" #")[0]
        if " > " in line:
            line = line.split(" > ")[0]
        try:
            argv = shlex.split(line)
        except ValueError:
            continue
        if argv[:2] == ["docker", "compose"]:
            compose_seen += 1
            files = [argv[i + 1] for i, w in enumerate(argv) if w == "-f"]
            for file in files:
                assert (ROOT / file).is_file(), f"{line}: no {file}"
            verbs = [w for w in argv[2:] if w in ("exec", "run", "cp", "stop", "start", "restart")]
            if verbs:
                rest = argv[argv.index(verbs[0]) + 1 :]
                rest = [w for w in rest if not w.startswith("-")]
                target = rest[0] if verbs[0] != "cp" else next(w for w in rest if ":" in w)
                known = {n for file in files for n in load_yaml(ROOT / file).get("services", {})}
                assert target.split(":")[0] in known, f"{line}: no service {target}"
                inner = rest[1:] if verbs[0] in ("exec", "run") else []
                if inner[:1] == ["nianbao"]:
                    check_nianbao_command(inner)
                    nianbao_seen += 1
                if inner[:1] == ["prefect"]:
                    prefect_commands.append(inner)
        elif argv[:1] == ["nianbao"]:
            check_nianbao_command(argv)
            nianbao_seen += 1
        elif argv[:1] == ["prefect"] and len(argv) > 2:
            prefect_commands.append(argv)
    assert nianbao_seen >= 5 and compose_seen >= 5
    assert len(prefect_commands) >= 5
    check_prefect_commands(prefect_commands)


def test_deploy_doc_schedules_table_matches_prefect_yaml():
    """The table shows what prefect.yaml deploys for the example configuration and office."""
    from flows.deployments import campaign_schedule

    text = DEPLOY_DOC.read_text(encoding="utf-8")
    computed = campaign_schedule(str(ROOT / "config"), office="yichun")
    for deployment in load_yaml(PREFECT_YAML)["deployments"]:
        flow = deployment["entrypoint"].partition(":")[2]
        schedule = deployment.get("schedules")
        if schedule:
            assert schedule[0]["cron"] == f"{{{{ campaign.{flow} }}}}"
            row = f"| `{flow}/yichun` | `{computed[flow]}` |"
        else:
            row = f"| `{flow}/yichun` | none |"
        assert row in text, f"docs/deploy.md: the schedules table needs {row}"
    from flows.campaign import SECRET_BLOCKS

    for block in SECRET_BLOCKS.values():
        assert f"`{block}`" in text, f"docs/deploy.md: name the Secret block {block}"
