"""The deployment files of deploy/: systemd units that systemd-analyze accepts, hardened and consistent with their
example config; a Docker image, its compose file and its example config consistent with each other and with the
repository; and the same for scaling out (issue 13): a template unit for several workers on one host, a compose
file with PostgreSQL and two workers, and their example configs with a PostgreSQL store. There is no Docker engine
here: the Docker files are checked as text, never built or run."""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from helpers import ROOT

from monitor import config

SYSTEMD = ROOT / "deploy" / "systemd"
DOCKER = ROOT / "deploy" / "docker"
SERVICE = SYSTEMD / "corpus-monitor.service"
DIGEST_SERVICE = SYSTEMD / "corpus-monitor-digest.service"
TIMER = SYSTEMD / "corpus-monitor-digest.timer"
#: several workers on one host, sharing a PostgreSQL store: corpus-monitor@NAME runs `run --worker NAME`
TEMPLATE = SYSTEMD / "corpus-monitor@.service"
UNITS = (SERVICE, DIGEST_SERVICE, TIMER, TEMPLATE)
SYSTEMD_CONFIG = SYSTEMD / "corpus-monitor.toml"
SYSTEMD_SCALE_CONFIG = SYSTEMD / "corpus-monitor.scale.toml"
DOCKER_CONFIG = DOCKER / "corpus-monitor.toml"
DOCKER_SCALE_CONFIG = DOCKER / "corpus-monitor.scale.toml"
DOCKERFILE = DOCKER / "Dockerfile"
COMPOSE = DOCKER / "compose.yaml"
#: PostgreSQL, two workers and Mailpit
COMPOSE_SCALE = DOCKER / "compose.scale.yaml"
#: the file compose.scale.yaml's secret comes from: made on each machine, never committed or built into an image
DB_PASSWORD = DOCKER / "db-password"
#: where both deployments read their config
CONFIG_PATH = "/etc/corpus-monitor/corpus-monitor.toml"
#: the executable as the units name it
EXECUTABLE = "/usr/local/bin/corpus-monitor"

#: what both services must set, each exactly once, to exactly this value
HARDENING = {
    "DynamicUser": "yes",
    "CapabilityBoundingSet": "",
    "NoNewPrivileges": "yes",
    "ProtectSystem": "strict",
    "ProtectHome": "yes",
    "PrivateTmp": "yes",
    "PrivateDevices": "yes",
    "ProtectKernelTunables": "yes",
    "ProtectKernelModules": "yes",
    "ProtectKernelLogs": "yes",
    "ProtectControlGroups": "yes",
    "ProtectClock": "yes",
    "ProtectHostname": "yes",
    "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
    "RestrictNamespaces": "yes",
    "LockPersonality": "yes",
    "MemoryDenyWriteExecute": "yes",
    "SystemCallFilter": "@system-service",
    "SystemCallArchitectures": "native",
    "UMask": "0077",
}


#: what both services must set, each exactly once, to exactly this value: the bounds on memory and tasks
RESOURCES = {"MemoryHigh": "1536M", "MemoryMax": "2G", "MemorySwapMax": "0", "TasksMax": "256"}


def size(text: str) -> int:
    """A size as systemd and Docker write it ("1536M", "2g", "0"), in bytes (their units are powers of 1024)."""
    match = re.fullmatch(r"(\d+)([kmgt]?)", text.strip().lower())
    assert match, text
    return int(match[1]) * 1024 ** " kmgt".index(match[2] or " ")


# -- systemd ------------------------------------------------------------------------------------------------------


def unit(path: Path) -> dict[str, dict[str, list[str]]]:
    """A unit file as section -> key -> every value given, in order."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    for number, raw in enumerate(path.read_text("utf-8").splitlines(), 1):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        assert current is not None and "=" in line and not line.endswith("\\"), f"{path.name}:{number}: {raw}"
        key, value = line.split("=", 1)
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


@pytest.mark.parametrize("path", [SERVICE, DIGEST_SERVICE], ids=lambda p: p.name)
def test_services_are_hardened_with_a_dynamic_user_state_and_credential(path: Path) -> None:
    service = unit(path)["Service"]
    for key, value in HARDENING.items():
        assert service.get(key) == [value], key
    # one dynamic user's name for both units (and deploy/README.md's systemd-run line)
    assert service["User"] == ["corpus-monitor"]
    assert "corpus-monitor" in service["StateDirectory"][0].split()
    assert service["LoadCredential"] == ["smtp-password:/etc/corpus-monitor/smtp-password"]
    (exec_start,) = service["ExecStart"]
    command = "run" if path == SERVICE else "digest"
    assert exec_start == f"{EXECUTABLE} {command} --config {CONFIG_PATH}"


@pytest.mark.parametrize("path", [SERVICE, DIGEST_SERVICE, TEMPLATE], ids=lambda p: p.name)
def test_services_are_bounded_in_memory_and_tasks(path: Path) -> None:
    """A runaway (a hostile input, a leak) is killed at MemoryMax, not left to take the machine's memory, and the
    bounds leave a scan room: it peaks well under 1 GB, in the main process and at most MAX_WORKERS workers."""
    from monitor.extracting import MAX_WORKERS

    service = unit(path)["Service"]
    for key, value in RESOURCES.items():
        assert service.get(key) == [value], key
    assert 1024**3 < size(RESOURCES["MemoryHigh"]) < size(RESOURCES["MemoryMax"])
    assert int(RESOURCES["TasksMax"]) >= 32 * (MAX_WORKERS + 1)
    notes = SERVICE.read_text("utf-8")  # the reasons, written beside the values
    assert f"at most {MAX_WORKERS} extraction worker processes" in notes and "TasksMax counts threads" in notes


def test_the_service_runs_reloads_restarts_and_stops_in_time() -> None:
    sections = unit(SERVICE)
    service = sections["Service"]
    assert service["Type"] in (["exec"], ["simple"])
    assert service["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    assert service["Restart"] == ["on-failure"]
    # the service exits within about 30 s of SIGTERM
    assert service["TimeoutStopSec"] == ["45"]
    assert sections["Install"]["WantedBy"] == ["multi-user.target"]


def test_the_digest_is_a_oneshot_on_a_persistent_daily_timer() -> None:
    assert unit(DIGEST_SERVICE)["Service"]["Type"] == ["oneshot"]
    sections = unit(TIMER)
    timer = sections["Timer"]
    assert timer["OnCalendar"] == ["*-*-* 08:00:00"]
    assert timer["Persistent"] == ["true"]
    assert "RandomizedDelaySec" in timer
    assert timer.get("Unit", [DIGEST_SERVICE.name]) == [DIGEST_SERVICE.name]
    assert sections["Install"]["WantedBy"] == ["timers.target"]


def test_the_worker_template_is_the_service_with_a_worker_name_and_the_database_password() -> None:
    """corpus-monitor@NAME.service is corpus-monitor.service but for its command, the database credential and the
    inbox it does not make: the same hardening, user, state directory, resources, restarts, config path."""
    service, template = unit(SERVICE), unit(TEMPLATE)
    worker = template["Service"]
    for key, value in HARDENING.items():
        assert worker.get(key) == [value], key
    assert worker["ExecStart"] == [f"{EXECUTABLE} run --worker %H-%i --config {CONFIG_PATH}"]
    credentials = dict(value.split(":", 1) for value in worker["LoadCredential"])
    assert credentials == {
        "db-password": "/etc/corpus-monitor/db-password",
        "smtp-password": "/etc/corpus-monitor/smtp-password",
    }
    # a folder source is polled only where its folder exists: made by every instance, it would exist everywhere
    assert "ExecStartPre" not in worker
    apart = {"ExecStart", "ExecStartPre", "LoadCredential"}
    for key, values in service["Service"].items():
        if key not in apart:
            assert worker.get(key) == values, key
    assert set(worker) - apart <= set(service["Service"]), set(worker) - set(service["Service"])
    assert template["Install"] == service["Install"]
    assert "After" in template["Unit"] and "network-online.target" in template["Unit"]["After"][0].split()


def _toml_keys(table: dict[str, object], prefix: str = "") -> list[tuple[str, object]]:
    """Every key of a parsed TOML file with its value, as dotted paths (arrays of tables by index)."""
    found: list[tuple[str, object]] = []
    for key, value in table.items():
        path = f"{prefix}{key}"
        found.append((path, value))
        items = value if isinstance(value, list) else [value]
        for index, item in enumerate(items):
            if isinstance(item, dict):
                found += _toml_keys(item, f"{path}[{index}]." if isinstance(value, list) else f"{path}.")
    return found


def _store_of_a_scale_config(path: Path) -> dict[str, object]:
    """The [store] table of a scale-out example config, checked as issue 13 specifies it: a PostgreSQL url instead
    of a path, the password from a file, never inline (neither as a key nor in the url), an optional lease."""
    store = tomllib.loads(path.read_text("utf-8"))["store"]
    assert "path" not in store  # path and url are mutually exclusive
    assert set(store) <= {"url", "password_env", "password_file", "lease_seconds"}, store
    url = urlsplit(store["url"])
    assert url.scheme == "postgresql" and url.hostname and url.username and url.path.strip("/")
    assert url.password is None
    assert "password_file" in store and "password_env" not in store
    lease = store.get("lease_seconds", 300)
    assert isinstance(lease, int) and 60 <= lease <= 3600, lease
    return store


def test_the_systemd_scale_config_uses_postgresql_the_credential_and_the_state_directory() -> None:
    worker = unit(TEMPLATE)["Service"]
    state = "/var/lib/" + worker["StateDirectory"][0].split()[0]
    credentials = [value.split(":", 1)[0] for value in worker["LoadCredential"]]
    store = _store_of_a_scale_config(SYSTEMD_SCALE_CONFIG)
    assert store["password_file"] == "${CREDENTIALS_DIRECTORY}/db-password" and "db-password" in credentials
    settings = tomllib.loads(SYSTEMD_SCALE_CONFIG.read_text("utf-8"))
    assert settings["smtp"]["password_file"] == "${CREDENTIALS_DIRECTORY}/smtp-password"
    assert "smtp-password" in credentials
    # what a worker writes is where the unit lets it write; a PostgreSQL store has no folder for the archive
    assert settings["digest"]["outbox"].startswith(state + "/")
    assert settings["digest"]["archive"].startswith(state + "/")
    # the folder source is made by hand on the host meant to poll it (or mounted on all): not in the state
    # directory, which every instance has, and not under /home, which ProtectHome hides
    (folder,) = (source for source in settings["sources"] if source["kind"] == "folder")
    assert not folder["path"].startswith((state + "/", "/home/"))
    assert settings["log"]["format"] == "json"
    # the rest as in the single service's config
    single = tomllib.loads(SYSTEMD_CONFIG.read_text("utf-8"))
    assert settings["schedule"] == single["schedule"] and settings["smtp"] == single["smtp"]


def test_the_systemd_config_keeps_its_files_where_the_units_let_it_write() -> None:
    service = unit(SERVICE)["Service"]
    state = "/var/lib/" + service["StateDirectory"][0].split()[0]
    settings = tomllib.loads(SYSTEMD_CONFIG.read_text("utf-8"))
    assert settings["store"]["path"].startswith(state + "/")
    assert settings["digest"]["outbox"].startswith(state + "/")
    (folder,) = (source for source in settings["sources"] if source["kind"] == "folder")
    assert folder["path"].startswith(state + "/")
    # the units make the folder before the service starts
    for path in (SERVICE, DIGEST_SERVICE):
        assert unit(path)["Service"]["ExecStartPre"] == [f"/bin/mkdir -p {folder['path']}"], path.name
    credential = service["LoadCredential"][0].split(":", 1)[0]
    assert settings["smtp"]["password_file"] == "${CREDENTIALS_DIRECTORY}/" + credential
    assert "password_env" not in settings["smtp"]
    assert settings["log"]["format"] == "json"


SYSTEMD_ANALYZE = shutil.which("systemd-analyze")
needs_systemd_analyze = pytest.mark.skipif(
    SYSTEMD_ANALYZE is None, reason="systemd-analyze is not installed (Debian: the systemd package)"
)


def _systemd_version() -> int:
    assert SYSTEMD_ANALYZE is not None
    shown = subprocess.run([SYSTEMD_ANALYZE, "--version"], capture_output=True, text=True, check=True).stdout
    match = re.match(r"systemd (\d+)", shown)
    return int(match[1]) if match else 0


def _analyze(*args: str | Path) -> subprocess.CompletedProcess[str]:
    assert SYSTEMD_ANALYZE is not None
    env = {**os.environ, "SYSTEMD_COLORS": "0", "SYSTEMD_LOG_COLOR": "0", "SYSTEMD_PAGER": ""}
    return subprocess.run([SYSTEMD_ANALYZE, *map(str, args)], capture_output=True, text=True, env=env, timeout=60)


def _copies(directory: Path, *, broken: bool = False) -> list[Path]:
    """The units in ``directory``, their ExecStart= naming an executable that exists on this machine (verify
    checks that it does; /usr/local/bin/corpus-monitor exists only on a real install): the venv's own
    corpus-monitor, else /bin/true. ``broken``: with a misspelt key and a bad value, to show that the check
    sees them."""
    executable = Path(sys.executable).with_name("corpus-monitor")
    if not executable.is_file():
        executable = Path(shutil.which("true") or "/bin/true")
    copies = []
    for path in UNITS:
        text = path.read_text("utf-8")
        text, count = re.subn(rf"^ExecStart={re.escape(EXECUTABLE)} ", f"ExecStart={executable} ", text, flags=re.M)
        assert count == int(path.suffix == ".service"), path.name
        if broken:
            text = text.replace("ProtectSystem=strict", "ProtectSystm=strict")
            text = text.replace("Persistent=true", "Persistent=ture")
        copy = directory / path.name
        copy.write_text(text, encoding="utf-8")
        copies.append(copy)
    return copies


def _verify(copies: list[Path]) -> tuple[int, list[str], list[str]]:
    """Exit status of `systemd-analyze verify`, its lines about our units, and its other lines."""
    # --recursive-errors=no (systemd 250+): the exit status counts only the units given, not the host's
    # units they pull in; --man=no: the units have no Documentation= man pages to look up.
    options = ["--recursive-errors=no"] if _systemd_version() >= 250 else []
    result = _analyze("verify", "--man=no", *options, *copies)
    lines = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    names = [path.name for path in UNITS] + [str(copies[0].parent)]
    ours = [line for line in lines if any(name in line for name in names)]
    return result.returncode, ours, [line for line in lines if line not in ours]


@needs_systemd_analyze
def test_systemd_analyze_verify_accepts_the_units(tmp_path: Path) -> None:
    status, ours, others = _verify(_copies(tmp_path))
    # Any line naming one of our units is a failure: an unknown key, a bad value, a missing executable.
    assert not ours, "\n".join(ours + others)
    # Other lines are tolerated: verify also loads, from the host, the units ours pull in (network-online.target,
    # multi-user.target, timers.target and what they need), and prints any problem of the host's own unit
    # files; such a line names none of our units and says nothing about them. On the machine this test was
    # written on, verify printed nothing at all. (The credential source /etc/corpus-monitor/smtp-password
    # need not exist: verify does not look for it.)
    if _systemd_version() >= 250:
        assert status == 0, "\n".join(others)


@needs_systemd_analyze
def test_systemd_analyze_verify_sees_a_broken_unit(tmp_path: Path) -> None:
    """The check above can fail: a misspelt key and a bad boolean are reported, naming their units."""
    _, ours, _ = _verify(_copies(tmp_path, broken=True))
    assert any(SERVICE.name in line and "ProtectSystm" in line for line in ours), ours
    assert any(TIMER.name in line and "ture" in line for line in ours), ours
    assert any(TEMPLATE.name in line and "ProtectSystm" in line for line in ours), ours


@needs_systemd_analyze
def test_systemd_analyze_security_rates_the_services_ok(tmp_path: Path) -> None:
    if _systemd_version() < 250:
        pytest.skip("systemd-analyze security --offline needs systemd 250 or newer")
    services = [path for path in _copies(tmp_path) if path.suffix == ".service"]
    # exposure 0-10 shown, 0-100 as threshold: at most 2.0, "OK" (the units score 1.6 on systemd 252)
    result = _analyze("security", "--offline=true", "--threshold=20", *services)
    assert result.returncode == 0, "\n".join(re.findall(r".*Overall exposure.*", result.stdout)) or result.stderr


# -- the example configs ------------------------------------------------------------------------------------------


def test_the_systemd_example_config_loads(tmp_path: Path) -> None:
    (tmp_path / "smtp-password").write_text("s3cret\n", encoding="utf-8")
    settings = config.load(SYSTEMD_CONFIG, cwd=tmp_path, environ={"CREDENTIALS_DIRECTORY": str(tmp_path)})
    assert settings.store_path == Path("/var/lib/corpus-monitor/monitor.sqlite3")
    assert settings.outbox == Path("/var/lib/corpus-monitor/outbox")
    assert [source.kind for source in settings.sources] == ["folder"]
    assert settings.smtp is not None and settings.smtp.password is not None
    assert settings.smtp.password.reveal() == "s3cret"
    assert settings.log_format == "json"
    schedule = settings.schedule
    assert (schedule.poll_seconds, schedule.digest_cron, schedule.timezone) == (900.0, "0 8 * * *", "Asia/Shanghai")


def test_the_docker_example_config_loads(tmp_path: Path) -> None:
    settings = config.load(DOCKER_CONFIG, cwd=tmp_path, environ={})
    assert settings.store_path == Path("/data/monitor.sqlite3")
    assert settings.outbox == Path("/data/outbox")
    assert [(source.kind, getattr(source, "path", None)) for source in settings.sources] == [
        ("folder", Path("/data/inbox"))
    ]
    assert settings.smtp is not None
    assert (settings.smtp.host, settings.smtp.port, settings.smtp.security) == ("mailpit", 1025, "none")
    assert settings.log_format == "json"
    assert (settings.schedule.poll_seconds, settings.schedule.digest_cron) == (900.0, None)  # None: as it happens


def test_scale_configs_load(tmp_path: Path) -> None:
    """Both scale-out example configs load as they are (the Docker one with its secret's path pointed at a file
    here), naming a PostgreSQL store whose password comes from the secret's file."""
    (tmp_path / "db-password").write_text("db-s3cret\n", encoding="utf-8")
    (tmp_path / "smtp-password").write_text("s3cret\n", encoding="utf-8")
    settings = config.load(SYSTEMD_SCALE_CONFIG, cwd=tmp_path, environ={"CREDENTIALS_DIRECTORY": str(tmp_path)})
    assert settings.store_url == "postgresql://corpus@db.example.com:5432/corpus"
    assert settings.store_password is not None and settings.store_password.reveal() == "db-s3cret"
    assert settings.lease_seconds == 300
    assert [(source.kind, getattr(source, "path", None)) for source in settings.sources] == [
        ("folder", Path("/srv/corpus-monitor/inbox"))
    ]
    assert settings.smtp is not None and settings.smtp.password is not None
    assert settings.outbox == Path("/var/lib/corpus-monitor/outbox")
    assert settings.archive == Path("/var/lib/corpus-monitor/archive")
    assert settings.log_format == "json"

    text = DOCKER_SCALE_CONFIG.read_text("utf-8")
    assert text.count('"/run/secrets/db-password"') == 1
    copy = tmp_path / "docker.toml"
    copy.write_text(text.replace('"/run/secrets/db-password"', f'"{tmp_path / "db-password"}"'), encoding="utf-8")
    settings = config.load(copy, cwd=tmp_path, environ={})
    assert settings.store_url is not None and settings.store_url.startswith("postgresql://")
    assert settings.store_password is not None and settings.store_password.reveal() == "db-s3cret"
    assert [(source.kind, getattr(source, "path", None)) for source in settings.sources] == [
        ("folder", Path("/srv/inbox"))
    ]
    assert settings.smtp is not None and (settings.smtp.host, settings.smtp.port) == ("mailpit", 1025)
    assert settings.archive == Path("/data/archive")


def test_no_example_config_holds_a_password() -> None:
    """Passwords come from the environment or a file (a credential, a compose secret), never from a config: no
    key holds one, and no PostgreSQL url carries one."""
    configs = sorted(ROOT.glob("deploy/**/*.toml"))
    assert {SYSTEMD_CONFIG, SYSTEMD_SCALE_CONFIG, DOCKER_CONFIG, DOCKER_SCALE_CONFIG} <= set(configs)
    for path in configs:
        for key, value in _toml_keys(tomllib.loads(path.read_text("utf-8"))):
            name = key.rsplit(".", 1)[-1]
            if "password" in name.lower():
                assert name in ("password_env", "password_file"), f"{path.name}: {key}"
            if name == "url" and isinstance(value, str) and value.startswith("postgres"):
                assert urlsplit(value).password is None, f"{path.name}: {key}"


# -- Docker -------------------------------------------------------------------------------------------------------


def instructions(path: Path) -> list[tuple[str, str]]:
    """A Dockerfile as (INSTRUCTION, arguments), continuation lines joined, comments left out."""
    found: list[tuple[str, str]] = []
    pending = ""
    for raw in path.read_text("utf-8").splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):  # a comment inside a continued instruction
            continue
        pending += line[:-1] + " " if line.endswith("\\") else line
        if not line.endswith("\\"):
            word, _, rest = pending.partition(" ")
            found.append((word.upper(), " ".join(rest.split())))
            pending = ""
    assert not pending
    return found


def _all(name: str) -> list[str]:
    return [args for word, args in instructions(DOCKERFILE) if word == name]


def test_the_dockerfile_builds_a_venv_and_runs_it_as_a_user_with_a_volume() -> None:
    (image,) = [args.split("=", 1)[1] for args in _all("ARG") if args.startswith("PYTHON_IMAGE=")]
    assert image == "python:3.11-slim"
    # two stages on the same image: a build stage and a runtime stage that takes only the venv from it
    assert _all("FROM") == ["${PYTHON_IMAGE} AS build", "${PYTHON_IMAGE}"]
    assert "--from=build /opt/corpus-monitor /opt/corpus-monitor" in _all("COPY")
    user = _all("USER")[-1].split(":")[0]
    assert user not in ("root", "0") and user == "10001"
    assert _all("VOLUME") == ["/data"]
    assert _all("WORKDIR")[-1] == "/data"
    assert _all("STOPSIGNAL") == ["SIGTERM"]
    assert any("PYTHONUNBUFFERED=1" in args for args in _all("ENV"))
    assert json.loads(_all("ENTRYPOINT")[0]) == ["corpus-monitor"]
    assert json.loads(_all("CMD")[-1]) == ["run", "--config", CONFIG_PATH]
    (healthcheck,) = _all("HEALTHCHECK")
    command = json.loads(healthcheck.split(" CMD ", 1)[1])
    assert command == ["corpus-monitor", "status", "--health", "--config", CONFIG_PATH]


def _dockerignore() -> list[str]:
    lines = (ROOT / ".dockerignore").read_text("utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def _ignored(path: str) -> bool:
    """Whether a .dockerignore pattern leaves ``path`` (relative to the repository) out of the build context."""
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for pattern in _dockerignore():
        pattern = pattern.removeprefix("/")
        bare = pattern.removeprefix("**/")
        if any(fnmatch.fnmatchcase(prefix, pattern) for prefix in prefixes):
            return True
        if pattern.startswith("**/") and any(fnmatch.fnmatchcase(part, bare) for part in parts):
            return True
    return False


def test_the_dockerfile_copies_what_exists_and_is_in_the_build_context() -> None:
    copies = [args.split() for args in _all("COPY") if not args.startswith("--from=")]
    sources = [source for *sources, _ in copies for source in sources]
    assert {"pyproject.toml", "README.md", "monitor", "templates", "deploy/docker/corpus-monitor.toml"} <= set(sources)
    for source in sources:
        assert (ROOT / source).exists(), source
        assert not _ignored(source), source
    # what the wheel must carry besides code: pyproject puts templates/ at monitor/templates, and monitor/data
    # is package data; neither is left out of the context
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))
    assert pyproject["tool"]["hatch"]["build"]["targets"]["wheel"]["force-include"]["templates"] == "monitor/templates"
    for data in [*(ROOT / "templates").iterdir(), *(ROOT / "monitor" / "data").iterdir()]:
        assert not _ignored(data.relative_to(ROOT).as_posix()), data
    (config_copy,) = [copy for copy in copies if copy[0] == "deploy/docker/corpus-monitor.toml"]
    assert config_copy[1] == CONFIG_PATH


def test_the_dockerignore_leaves_out_local_and_large_things() -> None:
    for path in [".venv", "var", "benchmarks/.cache", ".git", "monitor/__pycache__", "tests/__pycache__", "eval"]:
        assert _ignored(path), path
    # a secret: never in the build context
    assert _ignored(DB_PASSWORD.relative_to(ROOT).as_posix())


def compose_services(path: Path = COMPOSE) -> dict[str, str]:
    """A compose file's services, each as the text of its block (PyYAML is not a dependency: read as text)."""
    text = path.read_text("utf-8")
    assert "\t" not in text
    top = re.findall(r"^(\w[\w-]*):", text, re.M)
    assert "services" in top and "volumes" in top
    block = re.search(r"^services:\n(.*?)(?=^\S)", text, re.M | re.S)
    assert block
    parts = re.split(r"^  ([\w-]+):\n", block.group(1), flags=re.M)
    assert not parts[0].strip()
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def test_compose_runs_the_image_beside_mailpit() -> None:
    text = COMPOSE.read_text("utf-8")
    for number, line in enumerate(text.splitlines(), 1):
        indent = len(line) - len(line.lstrip(" "))
        assert indent % 2 == 0, f"compose.yaml:{number}: odd indentation"
    services = compose_services()
    assert set(services) == {"corpus-monitor", "mailpit"}
    monitor = services["corpus-monitor"]
    context = re.search(r"^\s+context: (\S+)$", monitor, re.M)
    dockerfile = re.search(r"^\s+dockerfile: (\S+)$", monitor, re.M)
    assert context and dockerfile
    assert (COMPOSE.parent / context[1]).resolve() == ROOT
    assert (ROOT / dockerfile[1]).resolve() == DOCKERFILE
    mounts = re.findall(r"^\s+- (\S+:/data\S*)$", monitor, re.M)
    assert "data:/data" in mounts and "./inbox:/data/inbox:ro" in mounts
    assert (COMPOSE.parent / "inbox").is_dir()
    assert re.search(r"^\s+stop_grace_period: 45s$", monitor, re.M)
    # the systemd units' bounds: memory (no swap beyond it), and processes and threads
    limits = dict(re.findall(r"^    (mem_limit|memswap_limit|pids_limit): (\S+)$", monitor, re.M))
    assert size(limits["mem_limit"]) == size(limits["memswap_limit"]) == size(RESOURCES["MemoryMax"]), limits
    assert limits["pids_limit"] == RESOURCES["TasksMax"]
    mailpit = services["mailpit"]
    assert re.search(r"^\s+image: axllent/mailpit$", mailpit, re.M)
    assert re.search(r'^\s+- "(127\.0\.0\.1:)?8025:8025"$', mailpit, re.M)
    assert re.search(r"^  data:", text.split("\nvolumes:\n", 1)[1], re.M)


def _top_level(path: Path, name: str) -> str:
    """The text of a compose file's top-level block ``name`` (volumes, secrets)."""
    block = re.search(rf"^{name}:\n(.*?)(?=^\S|\Z)", path.read_text("utf-8"), re.M | re.S)
    assert block, name
    return block.group(1)


def _list(service: str, key: str) -> list[str]:
    """The items of a service's list ``key`` (``- item`` lines under ``    key:``), quotes taken off."""
    block = re.search(rf"^    {key}:\n((?:      .*\n|\s*#.*\n)*)", service, re.M)
    assert block, key
    return [item.strip('"') for item in re.findall(r"^      - (.+)$", block.group(1), re.M)]


def _compose_lines(path: Path) -> list[str]:
    text = path.read_text("utf-8")
    assert "\t" not in text
    for number, line in enumerate(text.splitlines(), 1):
        assert (len(line) - len(line.lstrip(" "))) % 2 == 0, f"{path.name}:{number}: odd indentation"
    return [line for line in text.splitlines() if not line.lstrip().startswith("#")]


def test_compose_scale_runs_postgresql_two_workers_and_mailpit() -> None:
    _compose_lines(COMPOSE_SCALE)
    services = compose_services(COMPOSE_SCALE)
    assert set(services) == {"db", "worker-1", "worker-2", "mailpit"}
    # a project of its own: its volumes are not compose.yaml's
    name = re.search(r"^name: (\S+)$", COMPOSE_SCALE.read_text("utf-8"), re.M)
    single = re.search(r"^name: (\S+)$", COMPOSE.read_text("utf-8"), re.M)
    assert name and single and name[1] != single[1]
    volumes = _top_level(COMPOSE_SCALE, "volumes")

    db = services["db"]
    assert re.search(r"^    image: postgres:15$", db, re.M)
    (data,) = [mount for mount in _list(db, "volumes") if mount.endswith(":/var/lib/postgresql/data")]
    assert re.search(rf"^  {re.escape(data.split(':')[0])}:", volumes, re.M)  # a named volume
    healthcheck = re.search(r"^    healthcheck:\n((?:      .*\n)+)", db, re.M)
    assert healthcheck and re.search(r"^      test: \[\"CMD\", \"pg_isready\"", healthcheck[1], re.M)
    environment = dict(re.findall(r"^      (POSTGRES_\w+): (\S+)$", db, re.M))
    assert environment["POSTGRES_PASSWORD_FILE"] == "/run/secrets/db-password"
    assert "db-password" in _list(db, "secrets")

    # the same mail catcher as compose.yaml, its web page on this machine only
    for mailpit in (services["mailpit"], compose_services(COMPOSE)["mailpit"]):
        assert re.search(r"^    image: axllent/mailpit$", mailpit, re.M)
        assert _list(mailpit, "ports") == ["127.0.0.1:8025:8025"]

    single = compose_services(COMPOSE)["corpus-monitor"]
    _store_of_a_scale_config(DOCKER_SCALE_CONFIG)
    settings = tomllib.loads(DOCKER_SCALE_CONFIG.read_text("utf-8"))
    url = urlsplit(settings["store"]["url"])
    assert (url.hostname, url.port) == ("db", 5432)
    assert (url.username, url.path) == (environment["POSTGRES_USER"], "/" + environment["POSTGRES_DB"])
    assert settings["store"]["password_file"] == "/run/secrets/db-password"
    for number in (1, 2):
        worker = services[f"worker-{number}"]
        # built from the one Dockerfile, as compose.yaml builds it
        for key in ("context", "dockerfile", "image"):
            found = re.search(rf"^\s+{key}: (\S+)$", worker, re.M)
            assert found and found[0] in single, key
        command = re.search(r"^    command: (\[.*\])$", worker, re.M)
        assert command and json.loads(command[1]) == ["run", "--worker", f"worker-{number}", "--config", CONFIG_PATH]
        depends = re.search(r"^    depends_on:\n((?:      .*\n)+)", worker, re.M)
        assert depends and re.search(r"^      db:\n        condition: service_healthy$", depends[1], re.M), worker
        assert re.search(r"^      mailpit:$", depends[1], re.M)
        assert "db-password" in _list(worker, "secrets")
        mounts = _list(worker, "volumes")
        assert f"./{DOCKER_SCALE_CONFIG.name}:{CONFIG_PATH}:ro" in mounts
        (kept,) = [mount for mount in mounts if mount.endswith(":/data")]
        assert re.search(rf"^  {kept.split(':')[0]}:", volumes, re.M)
        # compose.yaml's conventions: an init passing SIGTERM on, time to stop, restarts, the units' bounds
        for line in ("init: true", "stop_grace_period: 45s", "restart: unless-stopped"):
            assert re.search(rf"^    {line}$", worker, re.M) and re.search(rf"^    {line}$", single, re.M), line
        limits = dict(re.findall(r"^    (mem_limit|memswap_limit|pids_limit): (\S+)$", worker, re.M))
        assert limits == dict(re.findall(r"^    (mem_limit|memswap_limit|pids_limit): (\S+)$", single, re.M))
        assert not re.search(r"^    (ports|privileged|user|network_mode):", worker, re.M)
    # the folder source is in one worker only: a folder source is polled by the workers in which it exists
    (folder,) = [source["path"] for source in settings["sources"] if source["kind"] == "folder"]
    inboxes = {number: [m for m in _list(services[f"worker-{number}"], "volumes") if m.split(":")[1] == folder]
               for number in (1, 2)}
    assert inboxes == {1: [f"./inbox:{folder}:ro"], 2: []}
    assert not folder.startswith("/data/")  # the image makes /data/inbox: it would exist in both workers
    assert settings["digest"]["archive"].startswith("/data/") and settings["digest"]["outbox"].startswith("/data/")
    assert (settings["smtp"]["host"], settings["smtp"]["port"]) == ("mailpit", 1025)


def test_compose_scale_keeps_the_password_in_a_secret_file() -> None:
    """The password is in a file the compose secret mounts (in git's and the build context's ignore lists), never
    in the compose file, a config or an environment variable."""
    secrets = _top_level(COMPOSE_SCALE, "secrets")
    assert re.fullmatch(r"(?:\s*#.*\n)*  db-password:\n    file: \./db-password\n*", secrets), secrets
    assert (COMPOSE_SCALE.parent / "db-password").resolve() == DB_PASSWORD
    assert not _ignored("deploy/docker/compose.scale.yaml") and _ignored("deploy/docker/db-password")
    for line in _compose_lines(COMPOSE_SCALE):
        key = line.strip().removeprefix("- ").split(":", 1)[0].split("=", 1)[0]
        if "PASSWORD" in key.upper() and key != "db-password":
            assert key == "POSTGRES_PASSWORD_FILE", line
        assert not re.search(r"postgres(ql)?://[^@\s/]*:[^@\s/]*@", line), line


def test_the_docker_config_uses_the_volume_the_inbox_and_mailpit() -> None:
    settings = tomllib.loads(DOCKER_CONFIG.read_text("utf-8"))
    (volume,) = _all("VOLUME")
    assert settings["store"]["path"].startswith(volume + "/")
    assert settings["digest"]["outbox"].startswith(volume + "/")
    assert [source["path"] for source in settings["sources"]] == ["/data/inbox"]
    smtp = settings["smtp"]
    assert (smtp["host"], smtp["port"], smtp["security"]) == ("mailpit", 1025, "none")
    assert settings["schedule"] == {"poll_every": "15m", "digest": "as-it-happens"}
    assert settings["log"]["format"] == "json"


# -- the files themselves and the READMEs -------------------------------------------------------------------------


def test_no_deploy_file_is_ignored_by_git() -> None:
    git = shutil.which("git")
    if git is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    files = [*UNITS, SYSTEMD_CONFIG, DOCKER_CONFIG, DOCKERFILE, COMPOSE, ROOT / ".dockerignore"]
    files += [SYSTEMD_SCALE_CONFIG, DOCKER_SCALE_CONFIG, COMPOSE_SCALE]
    files.append(DOCKER / "inbox" / ".gitignore")
    result = subprocess.run([git, "check-ignore", *map(str, files)], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 1 and not result.stdout, result.stdout  # 1: none of them is ignored
    # the compose secret's file, made on each machine, is never committed
    result = subprocess.run([git, "check-ignore", str(DB_PASSWORD)], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, "deploy/docker/db-password is not ignored by git"


def test_the_readmes_describe_each_way_with_files_that_exist() -> None:
    readme = (ROOT / "README.md").read_text("utf-8")
    deploy = (ROOT / "deploy" / "README.md").read_text("utf-8")
    assert readme.index("\n## Deployment\n") < readme.index("\n## Development\n")
    section = readme.split("\n## Deployment\n", 1)[1].split("\n## ", 1)[0]
    for text in (section, deploy):
        for needed in [
            "systemctl daemon-reload",
            "systemctl enable --now corpus-monitor",
            "journalctl -u corpus-monitor",
            "systemctl reload corpus-monitor",
            "systemctl enable --now corpus-monitor-digest.timer",
            "docker compose up -d --build",
            "http://localhost:8025",
            "/etc/corpus-monitor/smtp-password",
        ]:
            assert needed in text, needed
        for path in re.findall(r"\bdeploy/[\w./@*-]*[\w*]", text):  # a glob such as corpus-monitor*.service too
            assert any(ROOT.glob(path)) or ROOT / path == DB_PASSWORD, path  # that one the reader makes
    assert "statically" in section and "statically" in deploy  # no Docker engine checked them here
    for key in [*RESOURCES, "mem_limit", "memswap_limit", "pids_limit"]:
        assert f"`{key}" in deploy, key


def test_the_readme_says_how_to_scale_out() -> None:
    readme = (ROOT / "README.md").read_text("utf-8")
    deploy = (ROOT / "deploy" / "README.md").read_text("utf-8")
    assert readme.index("\n## Deployment\n") < readme.index("\n## Scaling out\n") < readme.index("\n## Development\n")
    section = readme.split("\n## Scaling out\n", 1)[1].split("\n## ", 1)[0]
    for needed in [
        "[store]",
        'url = "postgresql://',
        "password_file",
        "password_env",
        "lease_seconds",
        "corpus-monitor store copy",
        "--to postgresql://",
        "systemctl start corpus-monitor@1 corpus-monitor@2",
        "docker compose -f compose.scale.yaml up -d --build",
        "--worker",
        "FOR UPDATE SKIP LOCKED",
        "advisory lock",
        "Message-ID",
        "<store>.lock",
        "delivered_digests",
        "workers",
        "folder source",
    ]:
        assert needed in section, needed
    capacity = section.split("\n### Capacity for 1,000,000 sources every 15 minutes\n", 1)[1]
    assert "TODO" not in capacity  # the measured figures are there
    for topic in ("**Workers:", "**New documents:", "**Connections.**", "**Database size.**",
                  "**Writes per second.**"):
        assert topic in capacity, topic
    assert "1,111 polls a second" in capacity and "benchmarks/scale.py" in capacity
    # the README's [store] example: url instead of path, the password from elsewhere
    block = re.search(r"```toml\n(.*?)```", section, re.S)
    assert block
    store = tomllib.loads(textwrap.dedent(block.group(1)))["store"]
    assert "path" not in store and urlsplit(store["url"]).password is None
    for text in (section, deploy):
        for path in re.findall(r"\bdeploy/[\w./@*-]*[\w*]", text):
            assert any(ROOT.glob(path)) or ROOT / path == DB_PASSWORD, path  # that one the reader makes
    for needed in [TEMPLATE.name, SYSTEMD_SCALE_CONFIG.name, COMPOSE_SCALE.name, DOCKER_SCALE_CONFIG.name,
                   "/etc/corpus-monitor/db-password", "corpus-monitor@1"]:
        assert needed in deploy, needed
