"""A token sent as a URL path segment is never logged; the logged path is capped."""

from __future__ import annotations

import json

import pytest

from cashman.redaction import MAX_LOGGED_PATH, REDACTED


@pytest.mark.parametrize(
    ("template", "logged"),
    [
        ("/{token}", f"/{REDACTED}"),
        ("/incomes/{token}", f"/incomes/{REDACTED}"),
        ("/incomes/{token}/notes", f"/incomes/{REDACTED}/notes"),
        ("/secured/ping/Bearer {token}", f"/secured/ping/{REDACTED}"),
        ("/x/access_token={token}", f"/x/access_token={REDACTED}"),
        ("/x/{signature}", f"/x/{REDACTED}"),
    ],
)
def test_token_in_path_is_redacted(client, token, bearer, log_lines, capsys, template, logged):
    secret = token()
    signature = secret.rpartition(".")[2]
    path = template.format(token=secret, signature=signature)
    client.get(path, headers=bearer())
    (entry,) = log_lines()
    assert entry["path"] == logged
    captured = capsys.readouterr()
    for text in (captured.err, captured.out, json.dumps(entry)):
        assert secret not in text
        assert signature not in text


@pytest.mark.parametrize(
    "path",
    [
        "/incomes/123",
        "/docs/swagger-ui-bundle.js",
        "/openapi.json",
        "/nowhere/a.b/c-d_e",
    ],
)
def test_ordinary_path_logged_as_is(client, log_lines, path):
    with client.get(path):
        pass
    (entry,) = log_lines()
    assert entry["path"] == path


def test_long_path_is_capped(client, log_lines):
    path = "/nowhere" + "/abc" * 1000
    resp = client.get(path)
    assert resp.status_code == 404
    (entry,) = log_lines()
    assert len(entry["path"]) <= MAX_LOGGED_PATH + 3
    assert entry["path"].startswith("/nowhere/abc/abc")


@pytest.mark.parametrize(
    ("path", "logged"),
    [
        # %3F decodes to "?" inside the path; an opaque token is too short to look like one
        ("/ping%3Faccess_token=OPAQUE123", f"/ping?access_token={REDACTED}"),
        ("/ping;access_token=OPAQUE123", f"/ping;access_token={REDACTED}"),
        ("/x/ACCESS_TOKEN=OPAQUE123/y", f"/x/ACCESS_TOKEN={REDACTED}"),  # to the end: safer
    ],
)
def test_access_token_value_in_path_is_redacted(client, log_lines, capsys, path, logged):
    client.get(path)
    (entry,) = log_lines()
    assert entry["path"] == logged
    assert "OPAQUE123" not in capsys.readouterr().err
