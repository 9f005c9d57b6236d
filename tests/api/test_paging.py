"""Keyset paging: limit, opaque cursor, Link rel="next", a stable walk."""

from __future__ import annotations

import re
import threading
import time
from datetime import UTC, datetime

import pytest
from sqlalchemy import insert

from cashman.models import IdempotencyRecord

LINK = re.compile(r'<(/[^>]*)>; rel="next"')


def walk(client, headers, url, max_pages=100):
    """Follow Link rel=next from ``url``; returns the pages' ids."""
    pages = []
    for _ in range(max_pages):
        resp = client.get(url, headers=headers)
        assert resp.status_code == 200
        pages.append([item["id"] for item in resp.json])
        if "Link" not in resp.headers:
            return pages
        url = LINK.fullmatch(resp.headers["Link"])[1]
    raise AssertionError("too many pages")


def test_default_page_is_50_with_a_next_link(client, auth, create):
    for n in range(51):
        create("incomes", f"i{n}", 1)
    resp = client.get("/incomes", headers=auth)
    assert len(resp.json) == 50
    assert LINK.fullmatch(resp.headers["Link"])


@pytest.mark.parametrize("path", ["/incomes", "/transactions"])
def test_walk_sees_every_item_once_newest_first(client, auth, create, path):
    ids = [create("incomes", f"i{n}", n + 1).json["id"] for n in range(7)]
    pages = walk(client, auth, f"{path}?limit=3")
    assert [len(p) for p in pages] == [3, 3, 1]
    assert [i for page in pages for i in page] == ids[::-1]


def test_last_full_page_has_no_link(client, auth, create):
    for n in range(4):
        create("incomes", f"i{n}", 1)
    pages = walk(client, auth, "/incomes?limit=2")
    assert [len(p) for p in pages] == [2, 2]


def test_link_keeps_limit_and_is_root_relative(client, auth, create):
    for n in range(3):
        create("expenses", f"e{n}", 1)
    link = client.get("/expenses?limit=2", headers=auth).headers["Link"]
    url = LINK.fullmatch(link)[1]
    assert url.startswith("/expenses?")
    assert "limit=2" in url
    assert "cursor=" in url


def test_walk_while_items_are_added_sees_each_once(client, auth, create):
    originals = [create("incomes", f"i{n}", 1).json["id"] for n in range(6)]
    resp = client.get("/incomes?limit=2", headers=auth)
    seen = [item["id"] for item in resp.json]
    url = LINK.fullmatch(resp.headers["Link"])[1]
    for step in range(10):
        create("incomes", f"new{step}", 1)
        resp = client.get(url, headers=auth)
        seen += [item["id"] for item in resp.json]
        if "Link" not in resp.headers:
            break
        url = LINK.fullmatch(resp.headers["Link"])[1]
    assert seen == originals[::-1]


def test_pages_of_one_kind_skip_the_other(client, auth, create):
    incomes = [create("incomes", "i", 1).json["id"] for _ in range(3)]
    create("expenses", "e", 1)
    pages = walk(client, auth, "/incomes?limit=1")
    assert [i for page in pages for i in page] == incomes[::-1]


def test_cursor_walk_is_per_user(client, bearer, create):
    alice, bob = bearer(sub="alice"), bearer(sub="bob")
    mine = [create("incomes", "a", 1, headers=alice).json["id"] for _ in range(3)]
    create("incomes", "b", 1, headers=bob)
    pages = walk(client, alice, "/incomes?limit=2")
    assert [i for page in pages for i in page] == mine[::-1]


def test_limit_500_is_allowed(client, auth, create):
    create()
    assert client.get("/transactions?limit=500", headers=auth).status_code == 200


def test_a_create_that_commits_late_is_never_listed_below_rows_already_seen(
    app, auth, create, rows
):
    # A client refreshes "newest first until the item I already have". A keyed create
    # waits before its commit while another transaction holds its key; a create that
    # came later committed first. On PostgreSQL the late one was stamped before the
    # wait, so it appeared below what the client had listed: never seen.
    create("incomes", "old", 1)
    (owner,) = {row.owner for row in rows()}
    engine = app.extensions["cashman.db"].engine
    answers = {}

    def post(name, headers):
        resp = app.test_client().post(
            "/incomes", json={"description": name, "amount": 2}, headers=headers
        )
        answers[name] = resp.status_code

    threads = [
        threading.Thread(target=post, args=("slow", {**auth, "Idempotency-Key": "k-slow"})),
        threading.Thread(target=post, args=("fast", auth)),
    ]
    with engine.connect() as blocker:
        transaction = blocker.begin()
        # the key taken, not committed (SQLite: its write lock, which every writer awaits)
        blocker.execute(
            insert(IdempotencyRecord).values(
                owner=owner,
                key="k-slow",
                fingerprint="-",
                status=201,
                body="{}",
                created_at=datetime.now(UTC),
            )
        )
        try:
            for thread in threads:
                thread.start()
                time.sleep(0.5)  # each create is under way before the next step
            seen = [
                item["description"] for item in app.test_client().get("/incomes", headers=auth).json
            ]
        finally:
            transaction.rollback()
            for thread in threads:
                thread.join(30)
    assert answers == {"slow": 201, "fast": 201}
    listed = [item["description"] for item in app.test_client().get("/incomes", headers=auth).json]
    # every row the client had not seen is above the newest one it had
    assert listed[len(listed) - len(seen) :] == seen, (seen, listed)
