"""Driver connections kept open for one short statement at a time (``cashman.dpop_replay``).

The DPoP replay write is most of what DPoP adds to a request, so it skips SQLAlchemy's
pool (its checkout and rollback on return) and psycopg's cursor layer, which cost more
CPU than the statement (``bench/bench_dpop.py`` part 2). This module keeps the idle
driver connections of one engine, hands one to each statement, and replaces
connections the server dropped. On PostgreSQL the statement goes straight to libpq.
"""

from __future__ import annotations

import sqlite3
from collections import deque
from collections.abc import Callable, Sequence
from contextlib import suppress
from typing import Any, TypeVar

import psycopg
from psycopg import pq
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from cashman.pg_deadline import AnswerTimeout, exec_params

_T = TypeVar("_T")

MAX_IDLE_CONNECTIONS = 5  # as SQLAlchemy's default pool size; more are closed on return
# what a failed statement or connection attempt raises, per driver
DRIVER_ERRORS = (sqlite3.Error, psycopg.Error, SQLAlchemyError, OSError)


class StatementError(Exception):
    """A statement the database refused; ``lost`` when the connection is gone with it;
    ``error``: the driver's error class name, when the driver raised one (else a name
    no library uses, for the metric's label)."""

    def __init__(self, lost: bool, error: str = "ReplayStatementFailed") -> None:
        super().__init__("statement failed")
        self.lost = lost
        self.error = error


def libpq_statement(connection: Any, sql: str, params: Sequence[Any], ok: pq.ExecStatus) -> Any:
    """One statement through libpq on a psycopg ``connection`` (``$n`` placeholders, text
    parameters): its ``PGresult``.

    Raises ``StatementError`` unless the result's status is ``ok`` (``lost`` when the
    connection went with it), ``AnswerTimeout`` when the server does not answer within
    ``cashman.pg_deadline``'s bound.
    """
    pgconn = connection.pgconn
    # text parameters: the statement's casts give PostgreSQL their types
    values = [str(value).encode() for value in params]
    try:
        result = exec_params(connection, sql.encode(), values)
    except AnswerTimeout:
        raise  # not retried: a server that does not answer would keep the next one waiting
    except psycopg.OperationalError as exc:
        lost = pgconn.status != pq.ConnStatus.OK
        raise StatementError(lost=lost, error=type(exc).__name__) from None
    if result.status != ok:
        raise StatementError(lost=pgconn.status != pq.ConnStatus.OK)
    return result


class DriverConnections:
    """Idle driver connections of ``engine``, the last returned on top."""

    def __init__(self, engine: Engine, max_idle: int = MAX_IDLE_CONNECTIONS) -> None:
        """``engine``: makes the connections (its ``connect`` listeners set them up once);
        each is taken out of the engine's pool for good. At most ``max_idle`` are kept
        between statements; none is opened before the first ``execute``."""
        self.engine = engine
        self.max_idle = max_idle
        self.idle: deque[Any] = deque()  # a deque: its ends are thread-safe
        self._disposed = False

    def execute(
        self, run: Callable[[Any, str, Sequence[Any]], _T], sql: str, params: Sequence[Any]
    ) -> _T:
        """``run(connection, sql, params)`` on an idle connection (or a new one): what
        ``run`` returns.

        When ``run`` raises ``StatementError`` with ``lost``, the connection is closed
        with every idle one (they are as old), and ``run`` is called once more on a new
        connection. Raises ``StatementError`` or a driver error (``DRIVER_ERRORS``).
        """
        try:
            connection, fresh = self.idle.pop(), False
        except IndexError:
            connection, fresh = self._connect(), True
        try:
            result = run(connection, sql, params)
        except StatementError as exc:
            if not exc.lost:  # refused, rolled back: the connection is fine
                self._check_in(connection)
                raise
            self._close(connection)
            if fresh:
                raise
            self._close_idle()
            connection = self._connect()
            try:
                result = run(connection, sql, params)
            except BaseException:
                self._close(connection)
                raise
        except BaseException:
            self._close(connection)
            raise
        self._check_in(connection)
        return result

    def dispose(self) -> None:
        """Close every idle connection, and each one in use when it comes back."""
        self._disposed = True
        self._close_idle()

    def _connect(self) -> Any:
        proxied = self.engine.raw_connection()
        proxied.detach()
        return proxied.dbapi_connection

    def _check_in(self, connection: Any) -> None:
        if self._disposed or len(self.idle) >= self.max_idle:
            self._close(connection)
        else:
            self.idle.append(connection)

    def _close_idle(self) -> None:
        with suppress(IndexError):
            while True:
                self._close(self.idle.pop())

    @staticmethod
    def _close(connection: Any) -> None:
        with suppress(*DRIVER_ERRORS):
            connection.close()
