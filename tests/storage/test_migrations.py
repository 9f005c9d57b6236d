"""Alembic: the migrations build exactly the models' schema; upgrades are safe to race;
``--to`` steps the schema back and forth keeping rows; a database this release cannot
migrate stops every entry with one line (SPEC §5, §6)."""

from __future__ import annotations

import os
import threading

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.util import CommandError
from sqlalchemy import inspect, text
from sqlalchemy.engine import make_url

from auth import ConfigError
from cashman import create_app
from cashman.config import Settings
from cashman.database import build_engine
from cashman.migrate import migrate_to, schema_errors, upgrade
from cashman.models import Base
from tests.support.processes import (
    PYTHON,
    SERVERS,
    dev_server,
    free_port,
    production,
    run_command,
)


def test_migrations_match_the_models(db):
    with db.engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert diff == []


def test_schema_has_owner_first_listing_indexes(db):
    indexes = {
        ix["name"]: ix["column_names"] for ix in inspect(db.engine).get_indexes("transactions")
    }
    assert indexes["ix_transactions_owner_created"][0] == "owner"
    assert indexes["ix_transactions_owner_kind_created"][:2] == ["owner", "kind"]


def dpop_replay_indexes(engine) -> dict[str, list[str]]:
    return {ix["name"]: ix["column_names"] for ix in inspect(engine).get_indexes("dpop_replay")}


def test_dpop_replay_has_no_expiry_index_and_a_downgrade_restores_it(db):
    # 0003: each accepted proof writes the primary key's b-tree alone
    assert dpop_replay_indexes(db.engine) == {}
    migrate_to(db.engine, "0002")
    assert dpop_replay_indexes(db.engine) == {"ix_dpop_replay_expires_at": ["expires_at"]}
    upgrade(db.engine)
    assert dpop_replay_indexes(db.engine) == {}


def test_upgrade_again_is_a_no_op(db):
    upgrade(db.engine)
    with db.engine.connect() as connection:
        assert connection.execute(text("SELECT version_num FROM alembic_version")).scalar()


def test_concurrent_upgrades_of_an_empty_database(database_url):
    engines = [build_engine(database_url) for _ in range(4)]
    errors = []

    def run(engine):
        try:
            upgrade(engine)
        except Exception as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(engine,)) for engine in engines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    try:
        assert errors == []
        assert {"transactions", "idempotency_records"} <= set(inspect(engines[0]).get_table_names())
    finally:
        for engine in engines:
            engine.dispose()


def test_migrate_command_creates_the_schema(database_url):
    env = {**os.environ, "DATABASE_URL": database_url}
    done = run_command([PYTHON, "-m", "cashman.migrate"], env)
    assert done.returncode == 0, done.stderr
    assert "up to date" in done.stdout
    engine = build_engine(database_url)
    try:
        assert "transactions" in inspect(engine).get_table_names()
    finally:
        engine.dispose()


@pytest.mark.postgres_only
def test_migrate_command_never_prints_a_password(database_url):
    # trust authentication takes any password: each one is only there to be hidden
    url = make_url(database_url).set(password="UserInfoSecret1")
    url = url.update_query_dict({"password": "QuerySecret2", "sslpassword": "QuerySecret3"})
    env = {**os.environ, "DATABASE_URL": url.render_as_string(hide_password=False)}
    for args in ([], ["--to", "0001"]):
        done = run_command([PYTHON, "-m", "cashman.migrate", *args], env)
        assert done.returncode == 0, done.stderr
        assert "Secret" not in done.stdout + done.stderr
        assert "postgres:***@" in done.stdout


@pytest.mark.parametrize(
    "url",
    [
        "mysql://x",
        # a driver that is not installed, a port that is not one: each was a traceback
        "postgresql+psycopg2://postgres@127.0.0.1:5432/x",
        "postgresql+pg8000://postgres@127.0.0.1/x",
        "postgresql+psycopg://postgres@127.0.0.1:abc/x",
        "postgresql+psycopg://postgres@127.0.0.1:70000/x",
    ],
)
def test_migrate_command_rejects_a_bad_url(url):
    done = run_command([PYTHON, "-m", "cashman.migrate"], {**os.environ, "DATABASE_URL": url})
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().count("\n") == 0, done.stderr
    assert done.stderr.startswith("cashman: configuration error: DATABASE_URL: "), done.stderr


UNREACHABLE = "postgresql+psycopg://postgres@127.0.0.1:5499/nope"


def test_migrate_command_unreachable_database_is_one_line():
    env = {**os.environ, "DATABASE_URL": UNREACHABLE}
    done = run_command([PYTHON, "-m", "cashman.migrate"], env)
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0, done.stderr
    assert "DATABASE_URL" in done.stderr
    assert "Traceback" not in done.stderr
    assert "nope" not in done.stderr


@pytest.mark.parametrize(("args", "status"), [(["--help"], 0), (["-h"], 0), (["--bogus"], 2)])
def test_migrate_command_arguments_never_touch_the_database(tmp_path, args, status):
    database = tmp_path / "untouched" / "cashman.db"
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{database}"}
    done = run_command([PYTHON, "-m", "cashman.migrate", *args], env)
    assert done.returncode == status
    assert "usage: python -m cashman.migrate" in (done.stdout if status == 0 else done.stderr)
    assert "up to date" not in done.stdout
    assert not database.parent.exists()


# a tenant that is never called: the servers migrate before they fetch any key
TENANT = {"AUTH0_DOMAIN": "example.us.auth0.com", "API_AUDIENCE": "https://api.cashman.test/"}
REFUSAL = "cashman: configuration error: DATABASE_URL: "


def stamp(database_url: str, *revisions: str) -> None:
    """Write ``alembic_version`` directly, as a newer release (or a hand edit) leaves it."""
    engine = build_engine(database_url)
    try:
        with engine.begin() as connection:
            connection.execute(text("DELETE FROM alembic_version"))
            for revision in revisions:
                connection.execute(
                    text("INSERT INTO alembic_version (version_num) VALUES (:v)"), {"v": revision}
                )
    finally:
        engine.dispose()


def versions(database_url: str) -> list[str]:
    engine = build_engine(database_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(text("SELECT version_num FROM alembic_version"))
            return sorted(row[0] for row in rows)
    finally:
        engine.dispose()


@pytest.fixture
def newer_database(database_url) -> str:
    """A database at head, then stamped ``0004``: what a newer release leaves behind."""
    engine = build_engine(database_url)
    try:
        upgrade(engine)
    finally:
        engine.dispose()
    stamp(database_url, "0004")
    return database_url


def only_line(stderr: str) -> str:
    assert "Traceback" not in stderr, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    return lines[0]


@pytest.mark.parametrize("args", [[], ["--to", "0002"]])
def test_migrate_command_refuses_a_newer_releases_database_in_one_line(newer_database, args):
    done = run_command(
        [PYTHON, "-m", "cashman.migrate", *args], {**os.environ, "DATABASE_URL": newer_database}
    )
    assert done.returncode == 2
    line = only_line(done.stderr)
    assert line.startswith(
        REFUSAL + "the database is at schema revision 0004, which this release does not know"
    ), line
    assert "python -m cashman.migrate --to 0003" in line
    assert versions(newer_database) == ["0004"]


@pytest.mark.slow
@pytest.mark.parametrize("kind", [*SERVERS, "server.py"])
def test_servers_refuse_a_newer_releases_database_in_one_line(tmp_path, newer_database, kind):
    env = {**TENANT, "DATABASE_URL": newer_database}
    if kind == "server.py":
        server = dev_server(tmp_path, free_port(), **env)
    else:
        server = production(kind, tmp_path, free_port(), **env)
    assert server.wait_exit() == 2, server.stderr
    line = only_line(server.stderr)
    assert line.startswith(REFUSAL + "the database is at schema revision 0004"), line
    assert versions(newer_database) == ["0004"]


def test_app_refuses_a_newer_releases_database(kit, newer_database):
    # what each gunicorn worker and the development server build
    with pytest.raises(ConfigError) as refused:
        create_app(Settings.from_env({**kit.env(), "DATABASE_URL": newer_database}))
    assert refused.value.variable == "DATABASE_URL"


def test_several_versions_are_one_line(database_url):
    engine = build_engine(database_url)
    try:
        upgrade(engine)
    finally:
        engine.dispose()
    stamp(database_url, "0002", "0003")
    done = run_command(
        [PYTHON, "-m", "cashman.migrate"], {**os.environ, "DATABASE_URL": database_url}
    )
    assert done.returncode == 2
    line = only_line(done.stderr)
    assert line.startswith(REFUSAL + "the database's alembic_version table holds several"), line


def test_any_other_alembic_error_is_one_line_naming_database_url():
    with pytest.raises(ConfigError) as refused, schema_errors():
        raise CommandError("Requested revision 0003 overlaps\nwith other requested revisions")
    assert refused.value.variable == "DATABASE_URL"
    assert "\n" not in str(refused.value)
    assert "overlaps with other requested revisions" in str(refused.value)


def migrate_command(database_url: str, *args: str):
    return run_command(
        [PYTHON, "-m", "cashman.migrate", *args], {**os.environ, "DATABASE_URL": database_url}
    )


def replay_rows(database_url: str) -> list[tuple]:
    engine = build_engine(database_url)
    try:
        with engine.connect() as connection:
            query = "SELECT jkt, jti_sha256, expires_at FROM dpop_replay ORDER BY jkt"
            return [tuple(row) for row in connection.execute(text(query))]
    finally:
        engine.dispose()


def replay_indexes(database_url: str) -> dict[str, list[str]]:
    engine = build_engine(database_url)
    try:
        return dpop_replay_indexes(engine)
    finally:
        engine.dispose()


def test_migrate_command_steps_back_to_0002_and_forward_again_keeping_rows(database_url):
    assert migrate_command(database_url).returncode == 0
    engine = build_engine(database_url)
    try:
        with engine.begin() as connection:
            connection.execute(
                text("INSERT INTO dpop_replay (jkt, jti_sha256, expires_at) VALUES (:k, :j, :e)"),
                [{"k": f"jkt-{n}", "j": f"jti-{n}", "e": 1_900_000_000 + n} for n in range(3)],
            )
    finally:
        engine.dispose()
    rows = replay_rows(database_url)
    assert len(rows) == 3

    back = migrate_command(database_url, "--to", "0002")
    assert back.returncode == 0, back.stderr
    assert "at revision 0002, was 0003" in back.stdout
    assert versions(database_url) == ["0002"]
    assert replay_indexes(database_url) == {"ix_dpop_replay_expires_at": ["expires_at"]}
    assert replay_rows(database_url) == rows

    forward = migrate_command(database_url)  # no option: to head, as at start-up
    assert forward.returncode == 0, forward.stderr
    assert versions(database_url) == ["0003"]
    assert replay_indexes(database_url) == {}
    assert replay_rows(database_url) == rows


@pytest.mark.parametrize("revision", ["nonsense", "base", "0004"])
def test_migrate_command_unknown_target_is_one_line_and_changes_nothing(database_url, revision):
    assert migrate_command(database_url).returncode == 0
    done = migrate_command(database_url, "--to", revision)
    assert done.returncode == 2
    line = only_line(done.stderr)
    assert line == (
        f"cashman: configuration error: --to: unknown schema revision '{revision}': "
        "this release knows 0001, 0002, 0003 and head"
    )
    assert done.stdout == ""
    assert versions(database_url) == ["0003"]


def test_migrate_to_the_revision_it_is_at_is_a_no_op(db):
    assert migrate_to(db.engine, "0003") == "0003"
    assert migrate_to(db.engine, "head") == "0003"
    assert dpop_replay_indexes(db.engine) == {}
