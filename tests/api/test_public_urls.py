"""``Location`` and ``Link`` under ``API_BASE_URL`` (SPEC §2, §4): behind a proxy that
strips the base URL's path, the URLs a client follows keep that path."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from openapi_spec_validator import validate

from auth.testing import dpop_headers
from tests.conftest import READ, WRITE

BASES = ["https://api.example.com/api", "https://api.example.com"]


@pytest.fixture
def env(env, base):
    """The app's environment with ``API_BASE_URL`` = ``base`` (each test parametrizes it)."""
    return env if base is None else {**env, "API_BASE_URL": base}


def link_target(resp) -> str:
    value = resp.headers["Link"]
    assert value.endswith('>; rel="next"')
    return value.removeprefix("<").removesuffix('>; rel="next"')


def app_path(url: str, base: str) -> str:
    """What the application receives once the proxy strips ``base``'s path."""
    assert url.startswith(base + "/"), url
    return url.removeprefix(base)


@pytest.mark.parametrize("base", BASES)
def test_location_is_under_api_base_url(base, create, client, auth, app):
    resp = create("incomes")
    assert resp.headers["Location"] == f"{base}/incomes/{resp.json['id']}"
    again = client.get(app_path(resp.headers["Location"], base), headers=auth)
    assert again.status_code == 200


@pytest.mark.parametrize("base", BASES)
def test_idempotent_create_replays_location_under_api_base_url(base, client, auth):
    headers = {**auth, "Idempotency-Key": "k-1"}
    body = {"description": "rent", "amount": 5}
    first = client.post("/expenses", json=body, headers=headers)
    again = client.post("/expenses", json=body, headers=headers)
    assert (first.status_code, again.status_code) == (201, 201)
    expected = f"{base}/expenses/{first.json['id']}"
    assert first.headers["Location"] == again.headers["Location"] == expected


@pytest.mark.parametrize("base", BASES)
def test_next_link_is_under_api_base_url(base, create, client, auth):
    create("incomes", "a")
    create("incomes", "b")
    target = link_target(client.get("/incomes?limit=1", headers=auth))
    assert urlsplit(target)._replace(query="").geturl() == f"{base}/incomes"
    second = client.get(app_path(target, base), headers=auth)
    assert second.status_code == 200 and len(second.json) == 1


@pytest.mark.parametrize("base", BASES)
def test_next_link_followed_with_dpop_matches_htu(base, create, client, kit, client_key):
    token = client_key.mint_bound(kit, scopes=[READ, WRITE])
    for description in ("a", "b"):
        create("incomes", description)

    def get(url: str):
        proof = client_key.proof("GET", url.partition("?")[0], token)
        return client.get(app_path(url, base), headers=dpop_headers(token, proof))

    first = get(f"{base}/incomes?limit=1")
    assert first.status_code == 200, first.json
    second = get(link_target(first))
    assert second.status_code == 200, second.json
    assert [first.json[0]["description"], second.json[0]["description"]] == ["b", "a"]


@pytest.mark.parametrize("base", [None])
def test_without_api_base_url_references_stay_root_relative(create, client, auth):
    create("incomes", "a")
    created = create("incomes", "b")
    assert created.headers["Location"] == f"/incomes/{created.json['id']}"
    assert link_target(client.get("/incomes?limit=1", headers=auth)).startswith("/incomes?limit=1&")


@pytest.mark.parametrize("base", ["HTTPS://API.Example.COM:443/api/"])
def test_references_and_htu_use_the_normal_form_of_api_base_url(
    base, create, client, kit, client_key
):
    normal = "https://api.example.com/api"
    created = create("incomes")
    assert created.headers["Location"] == f"{normal}/incomes/{created.json['id']}"
    token = client_key.mint_bound(kit, scopes=[READ])
    proof = client_key.proof("GET", created.headers["Location"], token)
    resp = client.get(
        app_path(created.headers["Location"], normal), headers=dpop_headers(token, proof)
    )
    assert resp.status_code == 200, resp.json


@pytest.mark.parametrize("base", [*BASES, None])
def test_openapi_server_is_api_base_url(base, client):
    document = client.get("/openapi.json").json
    assert document.get("servers") == ([{"url": base}] if base else None)
    validate(document)
