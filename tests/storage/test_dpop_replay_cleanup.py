"""The DPoP replay store's clean-up: a walk over the primary key that deletes expired rows
only, resumes where a run stopped, wraps around, and keeps the table bounded (SPEC §3a
step 5: "each entry removed after its window, never growing without bound").

On SQLite and, with ``TEST_POSTGRES_URL``, on PostgreSQL. Rows are ordered by key, so most
tests name the rows by their ``jkt`` (``k00``, ``k01``...) to know the walk's order.
"""

from __future__ import annotations

import math

from sqlalchemy import text
from sqlalchemy.dialects import sqlite

from cashman.database import Database
from cashman.dpop_replay import jti_digest
from cashman.dpop_replay_cleanup import CATCH_UP_INTERVAL_S, SKEW_MARGIN_S, ReplayCleanup
from tests.support.replay_store import JKT, NOW, OTHER_JKT, Clock, rows


def jkts(db: Database) -> list[str]:
    """The ``jkt`` of every row, in key order."""
    return sorted(row[0] for row in rows(db))


def count(db: Database) -> int:
    with db.engine.connect() as connection:
        return connection.execute(text("SELECT count(*) FROM dpop_replay")).scalar_one()


def test_cleanup_deletes_only_expired_rows(store, instances):
    for i in range(5):
        store.record(JKT, f"old-{i}", NOW + 10)
    store.record(JKT, "live", NOW + 600)
    assert store.cleanup(NOW + 11) == 5
    assert [row[1] for row in rows(instances[0])] == [jti_digest("live")]


def test_a_row_expiring_this_second_is_kept(store, instances):
    store.record(JKT, "jti-1", NOW + 10)  # stored as NOW + 10, the whole second
    assert store.cleanup(NOW + 10.9) == 0
    assert store.cleanup(NOW + 11) == 1


def test_cleanup_is_bounded_per_run(instances, make_store):
    store = make_store(instances[0].engine, cleanup_batch=2, cleanup_max_batches=2)
    for i in range(7):
        store.record(JKT, f"old-{i}", NOW + 10)
    assert store.cleanup(NOW + 11) == 4  # two batches of two keys
    assert len(rows(instances[0])) == 3
    assert store.cleanup(NOW + 11) == 3


def test_walk_resumes_where_it_stopped_and_wraps_around(instances, make_store):
    # two batches of two keys a run; k00, k02... expire at NOW + 10, k01, k03... live on
    store = make_store(instances[0].engine, cleanup_batch=2, cleanup_max_batches=2)
    for i in range(10):
        store.record(f"k{i:02}", "jti", NOW + (10 if i % 2 == 0 else 600))
    live = [f"k{i:02}" for i in range(1, 10, 2)]

    assert store.cleanup(NOW + 11) == 2  # k00..k03
    assert jkts(instances[0]) == sorted([*live, "k04", "k06", "k08"])
    # behind the walk now: left for the next pass
    store.record("k00", "jti", NOW + 12)
    assert store.cleanup(NOW + 11) == 2  # k04..k07
    assert jkts(instances[0]) == sorted([*live, "k00", "k08"])
    assert store.cleanup(NOW + 11) == 1  # k08, k09: the end of the table
    assert jkts(instances[0]) == sorted([*live, "k00"])
    assert store.cleanup(NOW + 13) == 1  # from the start again: k00
    assert jkts(instances[0]) == live
    assert store.cleanup(NOW + 13) == 0


def test_a_row_taken_over_after_expiry_is_kept(instances, make_store, clock):
    # the walk reads keys without looking at their expiry: the DELETE's own check is
    # what keeps a row recorded again (after it expired) since the batch was read
    store = make_store(instances[0].engine)
    other = make_store(instances[1].engine)
    other.record(OTHER_JKT, "live", NOW + 600)  # its first write, and clean-up run
    store.record(JKT, "taken-over", NOW + 10)
    store.record(JKT, "expired", NOW + 10)
    clock.now = NOW + 11
    assert other.record(JKT, "taken-over", NOW + 70) is True  # another instance, again
    assert store.cleanup(NOW + 11) == 1
    assert rows(instances[0]) == [
        (JKT, jti_digest("taken-over"), int(NOW) + 70),
        (OTHER_JKT, jti_digest("live"), int(NOW) + 600),
    ]
    assert store.record(JKT, "taken-over", NOW + 70) is False  # still a replay


def test_records_trigger_cleanup_at_most_once_per_interval(instances, clock, make_store):
    store = make_store(instances[0].engine, cleanup_interval_s=60)
    store.record(JKT, "first", NOW + 5)  # the first write of a process cleans up
    clock.now = NOW + 30
    store.record(JKT, "second", NOW + 90)
    assert len(rows(instances[0])) == 2  # "first" expired, but the interval has not passed
    clock.now = NOW + 61
    store.record(JKT, "third", NOW + 120)
    assert sorted(row[1] for row in rows(instances[0])) == sorted(
        [jti_digest("second"), jti_digest("third")]
    )


def test_a_walk_cut_short_goes_on_soon_after_until_its_pass_is_complete(
    instances, clock, make_store
):
    # one batch of two keys a run; the writes that trigger the runs are replays of "z",
    # the last key, so they add no row
    store = make_store(
        instances[0].engine, cleanup_interval_s=60, cleanup_batch=2, cleanup_max_batches=1
    )

    def write_at(now: float) -> list[str]:
        clock.now = now
        store.record("z", "jti", NOW + 600)
        return jkts(instances[0])

    step = CATCH_UP_INTERVAL_S
    write_at(NOW)  # the first run: one row, a complete pass; the next in 60 s
    for i in range(5):
        store.record(f"a{i}", "jti", NOW + 5)
    assert write_at(NOW + 30) == ["a0", "a1", "a2", "a3", "a4", "z"]
    t = NOW + 60
    assert write_at(t) == ["a2", "a3", "a4", "z"]  # cut short after a1
    assert write_at(t + step / 2) == ["a2", "a3", "a4", "z"]  # not due yet
    t += step
    assert write_at(t) == ["a4", "z"]
    t += step
    assert write_at(t) == ["z"]  # the batch (a3, z]: full, so not the end
    t += step
    write_at(t)  # nothing after z: the pass is complete
    store.record("b0", "jti", NOW + 64)
    assert write_at(NOW + 70) == ["b0", "z"]  # back to once a minute
    assert write_at(t + 60 - step) == ["b0", "z"]
    assert write_at(t + 60) == ["z"]


def test_a_run_ends_after_the_batch_that_exhausts_its_time_budget(instances, clock, make_store):
    # a budget of nothing: every run is one batch, however many it may do
    store = make_store(
        instances[0].engine, cleanup_batch=2, cleanup_max_batches=20, cleanup_budget_s=0
    )
    for i in range(6):
        store.record(f"k{i}", "jti", NOW + 5)
    assert store.cleanup(NOW + 10) == 2
    assert store.cleanup(NOW + 10) == 2
    assert store.cleanup(NOW + 10) == 2
    assert jkts(instances[0]) == []


def test_rows_are_deleted_only_a_skew_margin_after_their_expiry(instances, clock, make_store):
    store = make_store(instances[0].engine, cleanup_skew_margin_s=SKEW_MARGIN_S)
    store.record(JKT, "jti", NOW + 10)
    assert store.cleanup(NOW + 10 + SKEW_MARGIN_S) == 0
    assert store.cleanup(NOW + 11 + SKEW_MARGIN_S) == 1


def test_an_instance_whose_clock_runs_ahead_deletes_no_record_another_still_needs(
    instances, make_store
):
    """Instance A's clock is 20 s ahead of B's. B accepted a proof whose record expires
    at T + 10; at B's T + 5 the proof is still within its window there, and A's clean-up
    (A's clock: T + 25, past the expiry) must not have reopened it."""
    ahead, behind = Clock(NOW + 25), Clock(NOW + 5)
    a = make_store(instances[0].engine, clock=ahead, cleanup_skew_margin_s=SKEW_MARGIN_S)
    b = make_store(instances[1].engine, clock=behind, cleanup_skew_margin_s=SKEW_MARGIN_S)
    assert b.record(JKT, "proof", NOW + 10)
    a.cleanup()
    assert not b.record(JKT, "proof", NOW + 10)


def test_a_failure_of_any_kind_in_a_run_is_logged_and_never_raised(caplog):
    """Not only a driver error: whatever a run meets (a row the driver cannot decode,
    say) is logged, and the caller, a request whose proof was already recorded, goes on."""

    def broken(_sql, _params):
        raise UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte")

    cleanup = ReplayCleanup(sqlite.dialect(), broken, broken, interval_s=60, batch=2, max_batches=2)
    assert cleanup.run(NOW) == 0
    assert "DPoP replay clean-up failed (UnicodeDecodeError)" in caplog.text
    assert cleanup.next_run == NOW + 60


def test_table_stays_bounded_under_a_steady_rate(instances, clock, make_store):
    """Records at RATE a second for DURATION seconds of a fake clock, each valid for
    WINDOW; the row count never passes BOUND.

    A row is deleted by the first pass of the walk to reach its key once it has expired:
    it stays unexpired for at most WINDOW + 2 s (whole seconds, rounded up when stored
    and down when compared); a pass over N rows takes D <= N / (BATCH x MAX_BATCHES)
    runs, one second apart; an expired row waits at most the rest of the current pass,
    the interval and the next pass up to its key: INTERVAL + 2 D. So
    N <= RATE (WINDOW + 2 + INTERVAL + 2 N / 100) = 340 + 0.4 N, N <= 566. A walk at
    the interval alone (100 keys per 10 s, half the rate) would grow without bound.
    """
    rate, window, interval, batch, max_batches, duration = 20, 5, 10, 10, 10, 120
    bound = rate * (window + 2 + interval) / (1 - 2 * rate / (batch * max_batches))
    assert int(bound) == 566
    store = make_store(
        instances[0].engine,
        cleanup_interval_s=interval,
        cleanup_batch=batch,
        cleanup_max_batches=max_batches,
    )
    peak, expiries = 0, []
    for n in range(rate * duration):
        clock.now = NOW + n / rate
        assert store.record(JKT, f"jti-{n}", clock.now + window) is True
        expiries.append(math.ceil(clock.now + window))
        if n % rate == 0:  # once a second
            peak = max(peak, count(instances[0]))
    assert peak <= bound
    # and none deleted before its time: every row the clean-up may not delete yet is there
    kept = math.floor(clock.now)
    assert sum(1 for row in rows(instances[0]) if row[2] >= kept) == sum(
        1 for expiry in expiries if expiry >= kept
    )


def test_cleanup_failure_does_not_fail_the_record(instances, caplog, make_store, clock):
    store = make_store(instances[0].engine)
    store.record(JKT, "expired", NOW + 5)
    refuse_deletes(instances[0])  # the database refuses the clean-up alone
    clock.now = NOW + 61
    assert store.record(JKT, "jti-1", NOW + 120) is True
    assert "clean-up failed" in caplog.text
    assert len(rows(instances[0])) == 2


def refuse_deletes(db: Database) -> None:
    """A trigger that makes every DELETE of a row of ``dpop_replay`` fail."""
    with db.engine.begin() as connection:
        if db.is_sqlite:
            connection.execute(
                text(
                    "CREATE TRIGGER refuse_deletes BEFORE DELETE ON dpop_replay"
                    " BEGIN SELECT RAISE(ABORT, 'refused'); END"
                )
            )
            return
        connection.execute(
            text(
                "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql"
                " AS $$ BEGIN RAISE EXCEPTION 'refused'; END $$"
            )
        )
        connection.execute(
            text(
                "CREATE TRIGGER refuse_deletes BEFORE DELETE ON dpop_replay"
                " FOR EACH ROW EXECUTE FUNCTION refuse()"
            )
        )


def allow_deletes(db: Database) -> None:
    with db.engine.begin() as connection:
        on = "" if db.is_sqlite else " ON dpop_replay"
        connection.execute(text(f"DROP TRIGGER refuse_deletes{on}"))


def test_a_failed_run_leaves_the_walk_where_it_was(instances, make_store):
    store = make_store(instances[0].engine, cleanup_batch=2, cleanup_max_batches=1)
    for i in range(4):
        store.record(f"k{i}", "jti", NOW + 5)
    assert store.cleanup(NOW + 10) == 2  # k0, k1
    refuse_deletes(instances[0])
    assert store.cleanup(NOW + 10) == 0  # k2, k3 refused
    allow_deletes(instances[0])
    assert store.cleanup(NOW + 10) == 2  # k2, k3: the batch that failed, again
    assert rows(instances[0]) == []
