"""What the database must hold after mixed traffic: the ledger, read back row by row.

The rows are read straight from PostgreSQL (not through the API, which could
hide a duplicate behind paging). Each create carried a unique marker as its
description (patches keep it as the first word), so every row can be traced
to the client request that made it:

* an acknowledged create (201) is there exactly once, with its id, amount and
  last acknowledged description, unless an acknowledged delete removed it;
* a create whose answer never came (no key, or no answer after every retry)
  is there at most once;
* nothing else is there: no duplicate, no row nobody asked for;
* every acknowledged ``Idempotency-Key`` has exactly one stored response.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from tests.topology.database import Postgres
from tests.topology.traffic import Ledger


@dataclass(frozen=True)
class Row:
    id: int
    owner: str
    kind: str
    description: str
    amount: Decimal

    @property
    def marker(self) -> str:
        return self.description.split(" ", 1)[0]


def read_rows(database: Postgres) -> list[Row]:
    """Every transaction row, straight from PostgreSQL."""
    with database.connect() as conn:
        records = conn.execute(
            "SELECT id, owner, kind, description, amount FROM transactions ORDER BY id"
        ).fetchall()
    return [Row(*record) for record in records]


def stored_keys(database: Postgres) -> dict[tuple[str, str], int]:
    """(owner, Idempotency-Key) -> how many stored responses."""
    with database.connect() as conn:
        records = conn.execute(
            "SELECT owner, key, count(*) FROM idempotency_records GROUP BY owner, key"
        ).fetchall()
    return {(owner, key): count for owner, key, count in records}


def ledger_problems(
    rows: list[Row], ledgers: dict[str, Ledger], owner_of: dict[str, str]
) -> list[str]:
    """Every way ``rows`` differ from what the clients were told; empty when they agree."""
    problems: list[str] = []
    by_marker: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        by_marker[row.marker].append(row)
    known: set[str] = set()
    for user, ledger in ledgers.items():
        owner = owner_of[user]
        for marker, created in ledger.created.items():
            known.add(marker)
            found = by_marker.get(marker, [])
            if created.deleted is True:
                if found:
                    problems.append(f"{marker}: deleted (204, or 404 on a repeat) yet stored")
                continue
            if created.deleted is None and not found:
                continue  # a delete whose answer was lost may have happened
            if len(found) != 1:
                problems.append(f"{marker}: acknowledged once, stored {len(found)} times")
                continue
            row = found[0]
            expected = (created.id, owner, created.amount)
            if (row.id, row.owner, row.amount) != expected:
                problems.append(f"{marker}: stored {row}, acknowledged {expected}")
            if row.description not in created.descriptions:
                problems.append(f"{marker}: description {row.description!r} never acknowledged")
        for marker in ledger.unknown:
            known.add(marker)
            if len(by_marker.get(marker, [])) > 1:
                problems.append(f"{marker}: unanswered create stored more than once")
    for marker, found in by_marker.items():
        if marker not in known:
            problems.append(f"{marker}: stored but never sent: {found}")
    return problems


def key_problems(
    keys: dict[tuple[str, str], int], ledgers: dict[str, Ledger], owner_of: dict[str, str]
) -> list[str]:
    """Acknowledged keyed creates whose ``Idempotency-Key`` is not stored exactly once."""
    problems = []
    for user, ledger in ledgers.items():
        for marker, created in ledger.created.items():
            if created.key is None:
                continue
            count = keys.get((owner_of[user], created.key), 0)
            if count != 1:
                problems.append(f"{marker}: key {created.key} stored {count} times")
    return problems
