"""No DPoP proof ever reaches a log: the request log, the app's error logs, stderr (SPEC §3a, §6).

A proof (and its token) sent in the ``DPoP`` header, refused or accepted, and one pasted
into the query string by mistake: none of it appears in anything logged.
"""

from __future__ import annotations

import pytest

from auth.testing import DPoPKey, dpop_headers
from tests.conftest import READ

BASE = "http://localhost"


@pytest.fixture
def env(env):
    return {**env, "API_BASE_URL": BASE}


def secrets_of(token: str, proof: str) -> list[str]:
    """The proof and token, and each of their signature segments (distinctive on their own)."""
    return [proof, token, proof.split(".")[2], token.split(".")[2]]


@pytest.mark.parametrize(
    "breakage",
    [{}, {"claims": {"htm": "POST"}}, {"corrupt_signature": True}, {"headers": {"typ": "x"}}],
)
def test_proof_in_the_header_is_never_logged(client, kit, log_lines, capsys, caplog, breakage):
    key = DPoPKey()
    token = key.mint_bound(kit, scopes=[READ])
    proof = key.proof("GET", f"{BASE}/incomes", token, **breakage)
    resp = client.get("/incomes", headers=dpop_headers(token, proof))
    assert resp.status_code == (200 if not breakage else 401)
    (line,) = log_lines()
    assert line["path"] == "/incomes"
    logged = caplog.text + capsys.readouterr().err
    for secret in secrets_of(token, proof):
        assert secret not in logged


@pytest.mark.parametrize(
    "path", ["/incomes?dpop={proof}", "/incomes?access_token={token}&proof={proof}", "/x/{proof}"]
)
def test_proof_in_the_query_string_or_path_is_never_logged(
    client, kit, log_lines, capsys, caplog, path
):
    key = DPoPKey()
    token = key.mint_bound(kit, scopes=[READ])
    proof = key.proof("GET", f"{BASE}/incomes", token)
    client.get(path.format(proof=proof, token=token), headers=dpop_headers(token, proof))
    (line,) = log_lines()
    assert "?" not in line["path"]
    logged = caplog.text + capsys.readouterr().err
    for secret in secrets_of(token, proof):
        assert secret not in logged
