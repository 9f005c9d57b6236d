"""The SPA example in headless Chromium against a running API, across origins.

The page is served from its own origin (a static file server on loopback),
the API runs as ``python server.py`` with its development issuer and
``CORS_ORIGINS`` naming that origin. From the allowed origin the page lists,
creates (a row lands in the database) and reads ``WWW-Authenticate`` on a 401;
from another origin the browser blocks every call. With DPoP the page makes a
non-extractable WebCrypto key, gets a token bound to it from the development
issuer's token endpoint, signs a fresh proof per request (with the server's
nonce when asked), and its replayed proof is refused. The page's auto-run mode
writes a JSON report into the DOM, which Chromium's ``--dump-dom`` returns.
"""

from __future__ import annotations

import contextlib
import functools
import html
import json
import os
import re
import shutil
import sqlite3
import subprocess
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlencode

import pytest

from tests.support.processes import ROOT, curl_lines, dev_server, free_port

pytestmark = pytest.mark.slow

SPA_DIR = ROOT / "examples" / "spa"
CHROMIUM_DEADLINE_S = 60
RESULT = re.compile(r'<pre id="result"[^>]*data-state="done"[^>]*>(.*?)</pre>', re.S)


def chromium_binary() -> str:
    """Debian's Chromium; skipped when absent unless CASHMAN_REQUIRE_BROWSER=1."""
    found = shutil.which("chromium") or (
        "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None
    )
    if found:
        return found
    if os.environ.get("CASHMAN_REQUIRE_BROWSER") == "1":
        pytest.fail("CASHMAN_REQUIRE_BROWSER=1 but chromium is not installed")
    pytest.skip("chromium is not installed (apt-get install chromium)")


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        """No access log on the test's stderr."""


@pytest.fixture
def spa_origin():
    """Serve examples/spa on 127.0.0.1; yields ``start() -> origin`` for as many origins."""
    servers = []

    def start() -> str:
        handler = functools.partial(QuietHandler, directory=str(SPA_DIR))
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def allowed_origin(spa_origin):
    return spa_origin()


TOKEN_ENDPOINT = re.compile(r"Token endpoint for browser apps .*: (http://\S+)$", re.M)


@contextlib.contextmanager
def running_api(tmp_path: Path, origin: str, **env: str):
    """``python server.py`` allowing ``origin``: (base URL, Bearer token, token endpoint)."""
    port = free_port()
    server = dev_server(tmp_path, port, CORS_ORIGINS=origin, **env)
    try:
        server.wait_http(f"http://127.0.0.1:{port}/ping")
        token, _ = curl_lines(server.stdout)[0]
        (token_endpoint,) = TOKEN_ENDPOINT.findall(server.stdout)
        yield f"http://127.0.0.1:{port}", token, token_endpoint
    finally:
        server.stop()


@pytest.fixture
def api(tmp_path, allowed_origin):
    """``python server.py`` allowing the SPA's origin; yields (base URL, token)."""
    with running_api(tmp_path, allowed_origin) as (base, token, _):
        yield base, token


def run_page(origin: str, api_base: str, token: str, tmp_path: Path, **fields: str) -> dict:
    """Open the page in auto-run mode in headless Chromium; return its JSON report."""
    fragment = urlencode({"api": api_base, "token": token, "autorun": "1", **fields})
    profile = tmp_path / f"chromium-{origin.rsplit(':', 1)[-1]}"
    args = [
        chromium_binary(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--no-default-browser-check",
        f"--user-data-dir={profile}",
        "--virtual-time-budget=20000",
        "--dump-dom",
        f"{origin}/index.html#{fragment}",
    ]
    done = subprocess.run(
        args, capture_output=True, text=True, timeout=CHROMIUM_DEADLINE_S, check=False
    )
    match = RESULT.search(done.stdout)
    assert match, f"no report in the page (exit {done.returncode}):\n{done.stderr[-2000:]}"
    return json.loads(html.unescape(match.group(1)))


def database_rows(tmp_path: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(tmp_path / "cashman.db") as connection:
        return connection.execute("SELECT description, kind FROM transactions").fetchall()


def test_spa_works_from_an_allowed_origin(tmp_path, allowed_origin, api):
    base, token = api
    report = run_page(allowed_origin, base, token, tmp_path, description="From the browser")
    assert report["origin"] == allowed_origin
    assert (report["list"]["status"], report["list"]["count"]) == (200, 0)
    assert report["create"]["status"] == 201
    assert report["create"]["location"].endswith(f"/incomes/{report['create']['id']}")
    assert (report["list_after"]["status"], report["list_after"]["count"]) == (200, 1)
    assert report["rows"] == 1
    assert database_rows(tmp_path) == [("From the browser", "INCOME")]


def test_spa_reads_www_authenticate_on_401(tmp_path, allowed_origin, api):
    base, token = api
    report = run_page(allowed_origin, base, token, tmp_path)
    unauthorized = report["unauthorized"]
    assert (unauthorized["status"], unauthorized["code"]) == (401, "invalid_token")
    assert unauthorized["www_authenticate"].startswith('Bearer realm="cashman"')
    assert unauthorized["reason"] == "invalid_token"
    # and the page shows it to the user
    assert 'error="invalid_token"' in report["auth_error_shown"]


def test_spa_blocked_from_another_origin(tmp_path, spa_origin, api):
    base, token = api
    other_origin = spa_origin()
    report = run_page(other_origin, base, token, tmp_path, description="Should not land")
    assert report["origin"] == other_origin
    for step in ("list", "create", "list_after", "unauthorized"):
        assert (report[step]["network"], report[step]["status"]) == (True, None), step
    assert database_rows(tmp_path) == []


# -- DPoP: the way Auth0's SPA SDK does it -----------------------------------------------------


def replay_rows(tmp_path: Path) -> int:
    with sqlite3.connect(tmp_path / "cashman.db") as connection:
        return connection.execute("SELECT count(*) FROM dpop_replay").fetchone()[0]


@pytest.mark.parametrize("nonces", [False, True], ids=["no-nonce", "server-nonces"])
def test_spa_with_dpop_lists_creates_and_its_replayed_proof_is_refused(
    tmp_path, allowed_origin, nonces
):
    env = {"AUTH_DPOP_NONCE_SECRET": "n" * 32} if nonces else {}
    with running_api(tmp_path, allowed_origin, **env) as (base, _, token_endpoint):
        report = run_page(
            allowed_origin,
            base,
            "",
            tmp_path,
            token_endpoint=token_endpoint,
            description="Bound from the browser",
        )
    assert report["dpop"] == {"token_type": "DPoP", "extractable": False}
    assert (report["list"]["status"], report["list"]["count"]) == (200, 0)
    assert report["create"]["status"] == 201
    assert (report["list_after"]["status"], report["list_after"]["count"]) == (200, 1)
    assert database_rows(tmp_path) == [("Bound from the browser", "INCOME")]
    replay = report["replay"]
    assert (replay["status"], replay["code"], replay["reason"]) == (
        401,
        "invalid_dpop_proof",
        "invalid_dpop_proof",
    )
    # one proof per accepted request, each recorded once (three, plus the nonce retries'
    # refused first tries, which burn nothing)
    assert replay_rows(tmp_path) == 3


def test_spa_with_dpop_blocked_from_another_origin(tmp_path, spa_origin, allowed_origin):
    other_origin = spa_origin()
    with running_api(tmp_path, allowed_origin) as (base, _, token_endpoint):
        report = run_page(
            other_origin, base, "", tmp_path, token_endpoint=token_endpoint, description="No"
        )
    assert report["dpop"]["network"] is True
    for step in ("list", "create", "list_after"):
        assert (report[step]["network"], report[step]["status"]) == (True, None), step
    assert database_rows(tmp_path) == []
