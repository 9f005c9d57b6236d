"""deploy/: the compose file and the configurations it names agree with each other.

There is no Docker engine where the tests run, so ``compose.yaml`` is checked
the way ``docker compose config`` would start: it parses, every file it names
exists, and every address one service uses is the one the other listens on
(HAProxy -> instances -> PgBouncer -> PostgreSQL). ``haproxy -c`` and
hadolint check the files those tools read; the topology test runs them.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from sqlalchemy.engine import make_url

from cashman.server_config import parse_bind
from tests.support.processes import ROOT, clean_env

DEPLOY = ROOT / "deploy"
SERVICES = {"postgres", "pgbouncer", "api1", "api2", "api3", "haproxy"}
INSTANCES = ("api1", "api2", "api3")
ENV_DEFAULT = re.compile(r'"\$\{(?P<name>[A-Z0-9_]+)-(?P<default>[^}]*)\}"')


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def _ini(path: Path) -> dict[str, dict[str, str]]:
    """PgBouncer's ini: {section: {key: value}}; keys before any header are under ""."""
    sections: dict[str, dict[str, str]] = {"": {}}
    current = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(";") or line.startswith("%"):
            continue
        if line.startswith("["):
            current = line.strip("[]")
            sections.setdefault(current, {})
            continue
        key, _, value = line.partition("=")
        sections[current][key.strip()] = value.strip()
    return sections


def _conninfo(value: str) -> dict[str, str]:
    return dict(item.split("=", 1) for item in value.split())


def _haproxy_defaults() -> dict[str, str]:
    """The default of every "${VARIABLE-default}" in haproxy.cfg."""
    text = (DEPLOY / "haproxy.cfg").read_text()
    return {m["name"]: m["default"] for m in ENV_DEFAULT.finditer(text)}


def _mounts(service: dict) -> dict[str, str]:
    """Container path -> host path (relative to deploy/) of each bind mount."""
    mounts = {}
    for volume in service.get("volumes", []):
        source, target = volume.split(":")[:2]
        if source.startswith("."):
            mounts[target] = source
    return mounts


def _port(address: str) -> int:
    return int(address.rsplit(":", 1)[1])


def test_compose_names_the_topology_services(compose):
    assert set(compose["services"]) == SERVICES


def test_every_file_compose_names_exists(compose):
    for service in compose["services"].values():
        build = service.get("build")
        if build:
            context = (DEPLOY / build["context"]).resolve()
            assert (context / build["dockerfile"]).is_file(), build
        for source in _mounts(service).values():
            assert (DEPLOY / source).is_file(), source


def test_instances_run_the_image_production_entry(compose):
    for name in INSTANCES:
        api = compose["services"][name]
        assert (DEPLOY / api["build"]["context"]).resolve() == ROOT
        assert api["build"]["dockerfile"] == "Dockerfile"
        assert "command" not in api and "entrypoint" not in api  # the image's own CMD


def test_haproxy_sends_to_the_instances_where_they_listen(compose):
    defaults = _haproxy_defaults()
    for index, name in enumerate(INSTANCES, 1):
        host, port = defaults[f"CASHMAN_API{index}"].rsplit(":", 1)
        assert host == name
        assert port == compose["services"][name]["environment"]["PORT"]
    published = compose["services"]["haproxy"]["ports"]
    assert published == [f"{_port(defaults['CASHMAN_LISTEN'])}:{_port(defaults['CASHMAN_LISTEN'])}"]
    assert _mounts(compose["services"]["haproxy"]) == {
        "/usr/local/etc/haproxy/haproxy.cfg": "./haproxy.cfg"
    }


def test_instances_serve_metrics_on_the_compose_network_only(compose):
    for name in INSTANCES:
        environment = compose["services"][name]["environment"]
        metrics = parse_bind("METRICS_BIND", environment["METRICS_BIND"])
        assert metrics.port != int(environment["PORT"])  # never the API's port
        assert "ports" not in compose["services"][name]  # not published


def test_instances_reach_postgres_through_pgbouncer(compose):
    site = _ini(DEPLOY / "pgbouncer.site.ini")
    url = make_url(compose["services"]["api1"]["environment"]["DATABASE_URL"])
    assert (url.host, url.port) == ("pgbouncer", int(site[""]["listen_port"]))
    target = _conninfo(site["databases"][url.database])
    assert (target["host"], target["port"]) == ("postgres", "5432")
    postgres = compose["services"]["postgres"]["environment"]
    assert (postgres["POSTGRES_DB"], postgres["POSTGRES_USER"]) == (target["dbname"], url.username)
    assert compose["services"]["pgbouncer"]["environment"]["PGBOUNCER_USER"] == url.username


def test_pgbouncer_reads_the_committed_policy_and_its_site_file(compose):
    policy = (DEPLOY / "pgbouncer.ini").read_text()
    site = (DEPLOY / "pgbouncer.site.ini").read_text()
    # one [pgbouncer] section: PgBouncer 1.18 resets it when the header comes again
    assert [line.strip() for line in policy.splitlines()].count("[pgbouncer]") == 1
    assert "[pgbouncer]" not in [line.strip() for line in site.splitlines()]
    assert _ini(DEPLOY / "pgbouncer.ini")["pgbouncer"]["pool_mode"] == "transaction"
    assert policy.rstrip().endswith("%include pgbouncer.site.ini")
    mounts = _mounts(compose["services"]["pgbouncer"])
    # the include is resolved against the working directory: the image's WORKDIR
    dockerfile = (DEPLOY / "pgbouncer.Dockerfile").read_text()
    workdir = re.search(r"^WORKDIR (\S+)", dockerfile, re.MULTILINE)[1]
    assert mounts == {
        f"{workdir}/pgbouncer.ini": "./pgbouncer.ini",
        f"{workdir}/pgbouncer.site.ini": "./pgbouncer.site.ini",
    }
    assert _ini(DEPLOY / "pgbouncer.site.ini")[""]["auth_file"] in dockerfile


def test_compose_holds_no_secret(compose):
    """Passwords are required from the environment, never written down."""
    for service in compose["services"].values():
        for key, value in service.get("environment", {}).items():
            if "PASSWORD" in key:
                assert re.fullmatch(r"\$\{[A-Z_]+:\?[^}]+\}", value), (key, value)
    url = compose["services"]["api1"]["environment"]["DATABASE_URL"]
    assert ":${POSTGRES_PASSWORD:?" in url


def test_haproxy_accepts_its_configuration(topology_programs):
    done = subprocess.run(
        ["haproxy", "-c", "-f", str(DEPLOY / "haproxy.cfg")],
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    # the compose names do not resolve here: a warning, not an error (init-addr none)
    assert done.returncode == 0, done.stderr


def test_hadolint_accepts_the_pgbouncer_image():
    hadolint = shutil.which("hadolint", path=str(Path(ROOT / ".venv" / "bin"))) or shutil.which(
        "hadolint"
    )
    if hadolint is None:
        pytest.skip("hadolint is not installed (it comes with requirements-dev.lock)")
    done = subprocess.run(
        [hadolint, str(DEPLOY / "pgbouncer.Dockerfile")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
