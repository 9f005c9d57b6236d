"""SQLite writers take turns on the writer lock: across processes, across a fork, across
threads; readers never wait for it."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import threading
from decimal import Decimal
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from cashman import storage
from cashman.database import EXTENSION, Database, writer_lock
from cashman.migrate import upgrade
from cashman.models import Kind, Transaction
from cashman.write_lock import NoLock, WriterLock

# another process (as another worker or instance would be): holds a write transaction
# open until told to go on, then writes its row and commits
OTHER_WRITER = """
import sys
from cashman import storage
from cashman.database import Database
from cashman.models import Kind
db = Database(sys.argv[1])
with db.writing() as session:
    print("holding", flush=True)
    sys.stdin.readline()
    session.add(storage.new_transaction("other", Kind.INCOME, "first", storage.ZERO + 1))
db.dispose()
"""


@pytest.fixture
def sqlite_url(tmp_path):
    url = f"sqlite:///{tmp_path / 'cashman.db'}"
    db = Database(url)
    upgrade(db.engine)
    db.dispose()
    return url


@pytest.fixture
def sqlite_db(sqlite_url):
    db = Database(sqlite_url)
    yield db
    db.dispose()


def write(db: Database, owner: str) -> int:
    with db.writing() as session:
        tx = storage.new_transaction(owner, Kind.INCOME, "x", Decimal("1.00"))
        session.add(tx)
        session.flush()
        return tx.id


def rows(db: Database) -> list[tuple[int, str]]:
    with db.reading() as session:
        return list(session.execute(select(Transaction.id, Transaction.owner)))


def create(db: Database, owner: str) -> int:
    """A create as the API makes it (one statement on the driver's cursor)."""
    app = Flask(__name__)
    app.extensions[EXTENSION] = db
    with app.app_context():
        return storage.create(owner, Kind.INCOME, "x", Decimal("1.00")).id


@pytest.mark.parametrize("write_with", [write, create], ids=["session", "create"])
def test_a_writer_waits_for_another_process_and_readers_do_not(sqlite_url, sqlite_db, write_with):
    root = Path(__file__).resolve().parents[2]
    ids: list[int] = []
    with subprocess.Popen(
        [sys.executable, "-c", OTHER_WRITER, sqlite_url],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
    ) as other:
        try:
            assert other.stdout.readline() == "holding\n"
            writer = threading.Thread(target=lambda: ids.append(write_with(sqlite_db, "me")))
            writer.start()
            writer.join(0.5)
            # blocked for as long as the other process holds its turn; reads go on
            assert writer.is_alive()
            assert rows(sqlite_db) == []
            other.stdin.write("go\n")
            other.stdin.flush()
            assert other.wait(30) == 0
            writer.join(30)
        finally:
            other.kill()
    # the waiting writer came second, after the other's commit, and both rows are there
    assert [owner for _, owner in sorted(rows(sqlite_db))] == ["other", "me"]
    assert ids == [max(i for i, _ in rows(sqlite_db))]


def test_a_forked_child_does_not_share_its_parents_turn(tmp_path):
    lock = WriterLock(str(tmp_path / "db.write-lock"), timeout_s=1)
    with lock.hold():
        pid = os.fork()
        if pid == 0:  # the child: the parent holds the lock, so the child must not get it
            code = 1
            try:
                fcntl.flock(lock._file(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                code = 0
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_threads_writing_at_once_all_store_their_rows(sqlite_db):
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            for _ in range(20):
                write(sqlite_db, f"thread-{n}")
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    with sqlite_db.reading() as session:
        assert session.scalar(select(func.count()).select_from(Transaction)) == 160


def test_a_turn_not_given_in_time_is_a_timeout(tmp_path):
    lock = WriterLock(str(tmp_path / "db.write-lock"), timeout_s=0.01)
    with lock.hold():
        outcome: list[str] = []

        def second() -> None:
            try:
                with lock.hold():
                    outcome.append("held")
            except PoolTimeoutError:
                outcome.append("timeout")

        t = threading.Thread(target=second)
        t.start()
        t.join(30)
    assert outcome == ["timeout"]


def test_a_write_that_raised_gives_both_turns_back(tmp_path):
    lock = WriterLock(str(tmp_path / "db.write-lock"), timeout_s=0.01)
    with pytest.raises(ValueError), lock.hold():
        raise ValueError("the transaction failed")
    # the file: another process (another open file) takes it at once
    other = os.open(lock.path, os.O_RDWR)
    try:
        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.flock(other, fcntl.LOCK_UN)
    finally:
        os.close(other)
    with lock.hold():  # and this process's turn, without waiting for the timeout
        pass


def test_a_lock_file_that_cannot_be_opened_gives_the_threads_turn_back(tmp_path):
    lock = WriterLock(str(tmp_path / "missing" / "db.write-lock"), timeout_s=0.01)
    for _ in range(2):  # the second attempt fails the same way, not with a timeout
        with pytest.raises(FileNotFoundError), lock.hold():
            pass


@pytest.mark.parametrize(
    "url",
    ["sqlite://", "sqlite:///:memory:", "sqlite:///file:x?mode=memory&uri=true"],
)
def test_databases_without_a_file_take_no_lock(url):
    assert isinstance(writer_lock(url), NoLock)


def test_postgresql_takes_no_lock():
    # PostgreSQL queues writers itself, row by row; building the engine connects to nothing
    assert isinstance(Database("postgresql+psycopg://u@127.0.0.1/db").writer_lock, NoLock)


def test_a_dpop_replay_write_takes_its_turn_too(sqlite_db):
    # the replay store's own connections queue on the same lock as the app's writes,
    # instead of sleeping in SQLite's busy handler behind them
    from cashman import dpop_replay

    store = dpop_replay.init_app(sqlite_db)
    other_holder = os.open(sqlite_db.writer_lock.path, os.O_RDWR | os.O_CREAT)
    recorded: list[bool] = []
    try:
        fcntl.flock(other_holder, fcntl.LOCK_EX)  # another process's turn, as the kernel sees it
        writer = threading.Thread(target=lambda: recorded.append(store.record("k", "j", 2e9)))
        writer.start()
        writer.join(0.5)
        assert writer.is_alive() and recorded == []
        fcntl.flock(other_holder, fcntl.LOCK_UN)
        writer.join(30)
    finally:
        os.close(other_holder)
    assert recorded == [True]
