"""A PostgreSQL server that stops answering is a 503 within seconds, not a hung worker.

``connect_timeout`` bounds a new connection and TCP keepalives notice a peer that is
gone, but neither helps a pooled connection whose server (or a proxy, or a
stalled network path whose kernel still acknowledges) takes a query and never
answers: libpq then waits for ever, and so does the request, ``/readyz``
included. Here every wait for the server's answer has a deadline,
``PG_ANSWER_TIMEOUT_S``, after which the statement is cancelled (a backend waiting
for a lock would otherwise wait on, holding a connection slot) and the connection
closed (its protocol state is unknown), and a ``psycopg.OperationalError`` raised: SQLAlchemy sees a
disconnect, drops the connection from its pool, and the app answers 503
``database_unavailable`` (``dpop_replay_unavailable`` for the replay store).

- ``DeadlineConnection``: psycopg's connection with that deadline on every wait
  (query, fetch, commit, rollback, the pool's ping); ``use_deadlines`` makes an
  engine connect with it.
- ``exec_params``: the replay store's one-round-trip statement through libpq
  (``cashman.dpop_replay``), awaited by psycopg's generator under the same deadline
  rather than blocking inside libpq.

Migrations run without it (``unbounded``): a schema change or the wait for another
instance's migration lock may rightly take longer than any request.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import Any

import psycopg
from psycopg.generators import execute
from sqlalchemy import Engine, event

# a pooled connection's statement is answered within this or the request is a 503: the
# same bound as a new connection's connect_timeout (cashman.database)
PG_ANSWER_TIMEOUT_S = 5.0
# how long the cancel request of a statement given up on may take
CANCEL_TIMEOUT_S = 1.0
# psycopg's own default for how often a wait wakes up to let Ctrl-C through
_WAIT_INTERVAL = inspect.signature(psycopg.Connection.wait).parameters["interval"].default


class AnswerTimeout(psycopg.OperationalError):
    """The database took a statement and did not answer within the deadline; the
    connection has been closed."""


class DeadlineConnection(psycopg.Connection):
    """A ``psycopg.Connection`` whose every wait for the server ends within
    ``answer_timeout_s`` seconds (default ``PG_ANSWER_TIMEOUT_S``; None: no bound).

    Past it the statement is cancelled, the connection closed and ``AnswerTimeout``
    raised, with ``connection.closed`` then True (what SQLAlchemy takes for a
    disconnect). A wait given its own timeout (psycopg's ``notifies``) keeps it.
    """

    answer_timeout_s: float | None = PG_ANSWER_TIMEOUT_S

    def wait(self, gen: Any, interval: float = _WAIT_INTERVAL, timeout: float | None = None) -> Any:
        """psycopg's ``Connection.wait`` with the deadline when no ``timeout`` is given."""
        if timeout is not None or self.answer_timeout_s is None:
            return super().wait(gen, interval, timeout)
        try:
            return super().wait(gen, interval, self.answer_timeout_s)
        except psycopg.OperationalError as exc:
            # psycopg's timeout is an OperationalError of a private class; any other is
            # the server's or the network's word, and psycopg has dealt with it
            if self.closed or type(exc).__name__ != "_WaitTimeout":
                raise
            _give_up(self)
            raise AnswerTimeout(
                f"no answer from the database within {self.answer_timeout_s:g} s"
            ) from None


def _give_up(connection: psycopg.Connection) -> None:
    """Cancel the statement ``connection`` is waiting for, then close it.

    Closing alone would leave the statement running on the server (a backend waiting
    for a lock keeps waiting, and holds a connection slot) until it ends by itself. The
    cancel request goes over a connection of its own, bounded by ``CANCEL_TIMEOUT_S``:
    a server that does not answer at all does not answer that either.
    """
    with suppress(Exception):  # a best effort: the connection is closed whatever happens
        connection.cancel_safe(timeout=CANCEL_TIMEOUT_S)
    connection.close()


def use_deadlines(engine: Engine, answer_timeout_s: float = PG_ANSWER_TIMEOUT_S) -> None:
    """Make ``engine`` (SQLAlchemy, ``postgresql+psycopg``) connect with
    ``DeadlineConnection``s whose answers must come within ``answer_timeout_s``."""

    @event.listens_for(engine, "do_connect")
    def _connect(_dialect: Any, _record: Any, cargs: Any, cparams: Any) -> Any:
        connection = DeadlineConnection.connect(*cargs, **cparams)
        connection.answer_timeout_s = answer_timeout_s
        return connection


@contextmanager
def unbounded(connection: Any) -> Iterator[None]:
    """No deadline on ``connection`` (a DBAPI connection) within the block: a migration,
    whose schema change or wait for another instance's lock may rightly take longer."""
    if not isinstance(connection, DeadlineConnection):
        yield
        return
    saved, connection.answer_timeout_s = connection.answer_timeout_s, None
    try:
        yield
    finally:
        connection.answer_timeout_s = saved


def exec_params(connection: psycopg.Connection, sql: bytes, params: Sequence[bytes]) -> Any:
    """One statement with text ``params`` on ``connection``'s libpq connection
    (``PQsendQueryParams``): its last ``PGresult``, an error result included.

    The answer is awaited by psycopg's own non-blocking generator through
    ``connection.wait``: on a ``DeadlineConnection``, within its deadline, past which
    the statement is cancelled, the connection closed and ``AnswerTimeout`` raised. A
    connection that fails on the way raises ``psycopg.OperationalError``, its status
    then ``BAD``.
    """
    pgconn = connection.pgconn
    pgconn.send_query_params(sql, params)
    return connection.wait(execute(pgconn))[-1]
