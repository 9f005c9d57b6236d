"""``python server.py`` (``make run``) as a user runs it: printed curl lines that work."""

from __future__ import annotations

import re
import shutil
import socket
import subprocess

import pytest
import requests

from auth import dev_issuer
from auth.testing import generate_rsa_key
from tests.support import raw_http
from tests.support.processes import (
    GUNICORN,
    PYTHON,
    ROOT,
    curl_lines,
    dev_server,
    free_port,
    hermetic_env,
    listening_addresses,
    run_command,
)

pytestmark = pytest.mark.slow


@pytest.fixture
def running(tmp_path):
    """The development server with its dev issuer, up and answering /ping."""
    port = free_port()
    server = dev_server(tmp_path, port)
    try:
        server.wait_http(f"http://127.0.0.1:{port}/ping")
        yield server
    finally:
        server.stop()


def test_dev_server_prints_curl_lines_that_answer_200(running):
    lines = curl_lines(running.stdout)
    paths = [url.rsplit("/", 1)[-1] for _, url in lines]
    assert paths == ["ping", "incomes"]
    answers = [
        requests.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=10)
        for token, url in lines
    ]
    assert [resp.status_code for resp in answers] == [200, 200]
    assert isinstance(answers[1].json(), list)


DPOP_CURL = re.compile(r'^  (curl -H "Authorization: DPoP .*)$', re.M)
TOKEN_ENDPOINT = re.compile(r"Token endpoint for browser apps .*: (http://\S+)$", re.M)


def test_dev_server_prints_a_dpop_curl_line_that_answers_200_each_time(running, tmp_path):
    (line,) = DPOP_CURL.findall(running.stdout)
    # the line names the interpreter that runs the server (python or python3 in the venv)
    assert re.search(r"python3? -m auth\.dpop_proof ", line), line
    for _ in range(2):  # the line makes a fresh proof each time it runs
        done = run_command(
            ["bash", "-c", f"{line} -s -o /dev/null -w '%{{http_code}}'"],
            hermetic_env(tmp_path),
        )
        assert done.stdout == "200", done.stderr


def issue_bound_token(running):
    """``(key, token, token_type, incomes_url)``: a new client key and a token the
    development server's token endpoint bound to it, as a browser app gets one."""
    from auth.testing import DPoPKey

    (token_url,) = TOKEN_ENDPOINT.findall(running.stdout)
    _, incomes_url = curl_lines(running.stdout)[1]
    key = DPoPKey()
    issued = requests.post(token_url, headers={"DPoP": key.proof("POST", token_url)}, timeout=10)
    return key, issued.json()["access_token"], issued.json()["token_type"], incomes_url


def test_dev_server_dpop_token_endpoint_binds_a_token_a_browser_can_use(running):
    from auth.testing import dpop_headers

    key, token, token_type, incomes_url = issue_bound_token(running)
    resp = requests.get(
        incomes_url, headers=dpop_headers(token, key.proof("GET", incomes_url, token)), timeout=10
    )
    assert (token_type, resp.status_code) == ("DPoP", 200)


def test_dev_server_takes_a_proof_for_the_path_as_sent_with_a_leading_double_slash(running):
    # a base URL with a trailing "/" joined to "/incomes": the production servers check
    # htu against "//incomes" as received, and so must the development server
    from auth.testing import dpop_headers

    key, token, _, incomes_url = issue_bound_token(running)
    double = incomes_url.replace("/incomes", "//incomes")
    authority = incomes_url.split("/")[2]  # 127.0.0.1:<port>, as the proof names it
    headers = {"Host": authority, **dpop_headers(token, key.proof("GET", double, token))}
    head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    with raw_http.connect(int(authority.rsplit(":", 1)[1])) as sock:
        raw_http.send_all(sock, f"GET //incomes HTTP/1.1\r\n{head}\r\n".encode())
        answer = raw_http.read_response(sock)
    assert (answer.status, answer.json()) == (200, []), answer.body


@pytest.mark.parametrize("audience", [" https://cashman.localhost/api ", "   "])
def test_dev_server_banner_token_works_with_a_padded_or_blank_audience(tmp_path, audience):
    # the banner minted with the raw value, the API compared the stripped one (401); a
    # blank value, which counts as unset, was "required"
    port = free_port()
    server = dev_server(tmp_path, port, API_AUDIENCE=audience)
    try:
        server.wait_http(f"http://127.0.0.1:{port}/ping")
        token, url = curl_lines(server.stdout)[1]
        resp = requests.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=10)
    finally:
        server.stop()
    assert resp.status_code == 200, resp.text


def test_dev_server_answers_a_double_slash_target_that_is_no_url_in_json(running):
    # "//[" kept as received made werkzeug's URL split fail: a traceback, no answer
    _, incomes_url = curl_lines(running.stdout)[1]
    authority = incomes_url.split("/")[2]
    with raw_http.connect(int(authority.rsplit(":", 1)[1])) as sock:
        raw_http.send_all(sock, f"GET //[::1/x HTTP/1.1\r\nHost: {authority}\r\n\r\n".encode())
        answer = raw_http.read_response(sock)
    assert (answer.status, answer.json()["code"]) == (404, "not_found")
    assert "Traceback" not in running.stderr


def test_dev_server_lists_incomes_created_with_its_token(running):
    (token, _), (_, incomes_url) = curl_lines(running.stdout)
    headers = {"Authorization": f"Bearer {token}"}
    created = requests.post(
        incomes_url, json={"description": "Salary", "amount": 5}, headers=headers, timeout=10
    )
    listed = requests.get(incomes_url, headers=headers, timeout=10)
    assert created.status_code == 201
    assert [row["id"] for row in listed.json()] == [created.json()["id"]]


def test_dev_server_prints_the_token_and_how_to_mint_others(running):
    out = running.stdout
    token = next(line[6:] for line in out.splitlines() if line.startswith("TOKEN="))
    assert curl_lines(out)[0][0] == token
    assert "python -m auth.dev_issuer --sub" in out


def test_dev_server_warns_loudly(running):
    assert "WARNING: DEVELOPMENT ISSUER" in running.stderr
    assert "Never use it in production" in running.stderr


def test_dev_server_listens_on_loopback_only(running):
    addresses = listening_addresses(running.popen.pid)
    # the API and the JWKS
    assert len(addresses) >= 2
    assert all(a.startswith("127.") or a == "::1" for a in addresses), addresses


def test_mint_command_token_accepted_by_running_server(running, tmp_path):
    minted = subprocess.run(
        [PYTHON, "-m", "auth.dev_issuer", "--sub", "alice", "--scope", "read:transactions"],
        cwd=ROOT,
        env=hermetic_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    _, incomes_url = curl_lines(running.stdout)[1]
    headers = {"Authorization": f"Bearer {minted.stdout.strip()}"}
    listed = requests.get(incomes_url, headers=headers, timeout=10)
    posted = requests.post(
        incomes_url, json={"description": "x", "amount": 1}, headers=headers, timeout=10
    )
    assert (listed.status_code, posted.status_code) == (200, 403)


MINT_LINE = re.compile(r"^  (\S*python3? -m auth\.dev_issuer --sub .*)$", re.M)


def test_printed_mint_line_carries_the_servers_key_file_and_audience(tmp_path):
    # the server's DEV_ISSUER_KEY_FILE and API_AUDIENCE are not in the shell that runs
    # the line: without them it signed with another key, for another audience (401)
    port = free_port()
    audience = "https://api.test/it's mine"
    server = dev_server(tmp_path, port, API_AUDIENCE=audience)
    try:
        server.wait_http(f"http://127.0.0.1:{port}/ping")
        (line,) = MINT_LINE.findall(server.stdout)
        other_shell = hermetic_env(
            tmp_path,
            DEV_ISSUER_KEY_FILE=str(tmp_path / "other.pem"),
            API_AUDIENCE="https://another-api.example",
        )
        minted = run_command(["bash", "-c", line], other_shell)
        assert minted.returncode == 0, minted.stderr
        _, incomes_url = curl_lines(server.stdout)[1]
        headers = {"Authorization": f"Bearer {minted.stdout.strip()}"}
        resp = requests.get(incomes_url, headers=headers, timeout=10)
    finally:
        server.stop()
    assert resp.status_code == 200, resp.text
    assert not (tmp_path / "other.pem").exists()


def test_mint_command_refuses_a_key_file_that_does_not_exist(tmp_path):
    missing = tmp_path / "typo.pem"
    done = run_command(
        [PYTHON, "-m", "auth.dev_issuer", "--key-file", str(missing)], hermetic_env(tmp_path)
    )
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr.strip() == f"auth.dev_issuer: --key-file: no key file at {missing}"
    assert not missing.exists()


@pytest.mark.parametrize(
    ("host", "status"),
    [
        # DNS rebinding: a page on a name made to resolve to 127.0.0.1 is its own origin,
        # past CORS_ORIGINS; the answer is not the app's
        ("evil.example:{port}", 421),
        ("localhost.evil.example:{port}", 421),
        ("localhost:{port}", 200),
        ("127.0.0.1:{port}", 200),
        ("[::1]:{port}", 200),
        ("LOCALHOST", 200),
    ],
)
def test_dev_server_answers_only_loopback_names_in_host(running, host, status):
    token, url = curl_lines(running.stdout)[0]
    port = int(url.rsplit(":", 1)[1].split("/", 1)[0])
    head = f"GET /secured/ping HTTP/1.1\r\nHost: {host.format(port=port)}\r\n"
    with raw_http.connect(port) as sock:
        sock.sendall(f"{head}Authorization: Bearer {token}\r\n\r\n".encode("ascii"))
        answer = raw_http.read_response(sock)
    assert answer.status == status
    assert answer.headers["content-type"] == "application/json"
    if status == 421:
        assert answer.json()["code"] == "misdirected_request"
        assert answer.closes


def test_dev_server_refuses_another_host_in_an_absolute_form_target(running):
    # werkzeug hands the app the target's host as HTTP_HOST: the metadata named it
    port = int(curl_lines(running.stdout)[0][1].rsplit(":", 1)[1].split("/", 1)[0])
    target = f"http://evil.example:{port}/.well-known/oauth-protected-resource"
    with raw_http.connect(port) as sock:
        sock.sendall(f"GET {target} HTTP/1.1\r\nHost: localhost:{port}\r\n\r\n".encode())
        answer = raw_http.read_response(sock)
    assert (answer.status, answer.json()["code"]) == (421, "misdirected_request")


def test_dev_server_bound_beyond_loopback_answers_any_host(tmp_path):
    # with a tenant (no development issuer) it may listen for other machines, which call
    # it by their own names for it
    port = free_port()
    tenant = {"AUTH0_DOMAIN": "example.us.auth0.com", "API_AUDIENCE": "https://api.test/"}
    server = dev_server(tmp_path, port, "--host", "127.0.0.2", **tenant)
    try:
        server.wait_http(f"http://127.0.0.2:{port}/ping")
        with raw_http.connect(port, host="127.0.0.2") as sock:
            sock.sendall(f"GET /ping HTTP/1.1\r\nHost: devbox.lan:{port}\r\n\r\n".encode())
            answer = raw_http.read_response(sock)
    finally:
        server.stop()
    assert answer.status == 200


def test_dev_server_refuses_two_host_fields(running):
    port = int(curl_lines(running.stdout)[0][1].rsplit(":", 1)[1].split("/", 1)[0])
    with raw_http.connect(port) as sock:
        sock.sendall(f"GET /ping HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nHost: x\r\n\r\n".encode())
        answer = raw_http.read_response(sock)
    assert (answer.status, answer.json()["code"]) == (400, "bad_request")


def test_access_token_in_query_never_printed(running):
    token, url = curl_lines(running.stdout)[0]
    requests.get(f"{url}?access_token={token}", timeout=10)
    requests.get(f"{url}?access_token=secret-in-query", timeout=10)
    running.stop()
    assert "secret-in-query" not in running.stdout + running.stderr
    assert running.stderr.count(token) == 0


def test_requests_the_dev_server_refuses_itself_are_json_and_never_logged(running):
    # what werkzeug refuses before the app sees it (a malformed request line, an unknown
    # HTTP version) gets the API's JSON shape, and neither the answer nor the log quotes it
    token, url = curl_lines(running.stdout)[0]
    port = int(url.rsplit(":", 1)[1].split("/", 1)[0])
    heads = [
        f"GET /ping {token}\r\n\r\n",
        f"GET /ping HTTP/1.1 {token}\r\nHost: x\r\n\r\n",
        f"GET /ping HTTP/9.9\r\nX: {token}\r\n\r\n",
        f"GET /{token}{'a' * 70_000} HTTP/1.1\r\n\r\n",
        f"GET /ping HTTP/1.1\r\nX: {token}{'a' * 70_000}\r\n\r\n",
    ]
    codes = {
        400: "bad_request",
        505: "http_version_not_supported",
        414: "uri_too_long",
        431: "request_header_fields_too_large",
    }
    statuses = []
    for head in heads:
        with raw_http.connect(port) as sock:
            sock.sendall(head.encode("ascii"))
            answer = raw_http.read_response(sock)
        statuses.append(answer.status)
        assert answer.headers["content-type"] == "application/json"
        assert answer.json()["code"] == codes[answer.status]
        assert token.encode() not in answer.body
        assert answer.closes
    assert statuses == [400, 400, 505, 414, 431]
    printed = running.stdout.count(token)  # the banner's own curl lines show it
    running.stop()
    assert token.split(".")[2] not in running.stderr, running.stderr
    assert running.stdout.count(token) == printed
    assert "refused before the app" in running.stderr


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.1", "example.com"])  # noqa: S104
def test_dev_server_refuses_non_loopback_host(tmp_path, host):
    server = dev_server(tmp_path, free_port(), "--host", host)
    assert server.wait_exit() == 2
    assert server.stderr.strip().splitlines() == [
        f"cashman: configuration error: --host: the development issuer binds to loopback "
        f"only (127.0.0.1, ::1); refusing {host!r}"
    ]


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"AUTH0_DOMAIN": "example.us.auth0.com"}, "API_AUDIENCE"),
        (
            {"AUTH0_DOMAIN": "example.us.auth0.com", "API_AUDIENCE": "a", "AUTH_LEEWAY": "900"},
            "AUTH_LEEWAY",
        ),
        ({"AUTH_ALGORITHMS": "HS256"}, "AUTH_ALGORITHMS"),
        ({"AUTH0_ISSUER": "http://issuer.example.com/", "API_AUDIENCE": "a"}, "AUTH0_ISSUER"),
        ({"PORT": "99999"}, "PORT"),
        ({"PORT": "\u00b2"}, "PORT"),  # a traceback: "²".isdigit() is true, int() refuses it
        ({"DATABASE_URL": "sqlite://"}, "DATABASE_URL"),
        # a damaged or foreign key file of the development issuer: tracebacks
        ({"DEV_ISSUER_KEY_FILE": "DAMAGED"}, "DEV_ISSUER_KEY_FILE"),
        ({"DEV_ISSUER_KEY_FILE": "DIRECTORY"}, "DEV_ISSUER_KEY_FILE"),
        ({"DEV_ISSUER_KEY_FILE": "ENCRYPTED"}, "DEV_ISSUER_KEY_FILE"),
    ],
)
def test_bad_configuration_is_one_line(tmp_path, env, variable):
    if env.get("DEV_ISSUER_KEY_FILE") == "DAMAGED":
        (tmp_path / "damaged.pem").write_text("-----BEGIN PRIVATE KEY-----\nnot a key\n")
        env = {"DEV_ISSUER_KEY_FILE": str(tmp_path / "damaged.pem")}
    elif env.get("DEV_ISSUER_KEY_FILE") == "DIRECTORY":
        env = {"DEV_ISSUER_KEY_FILE": str(tmp_path)}
    elif env.get("DEV_ISSUER_KEY_FILE") == "ENCRYPTED":  # a passphrase: TypeError, a traceback
        from cryptography.hazmat.primitives import serialization

        pem = generate_rsa_key().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"passphrase"),
        )
        (tmp_path / "encrypted.pem").write_bytes(pem)
        env = {"DEV_ISSUER_KEY_FILE": str(tmp_path / "encrypted.pem")}
    server = dev_server(tmp_path, free_port(), **env)
    assert server.wait_exit() == 2
    lines = server.stderr.strip().splitlines()
    assert len(lines) == 1, server.stderr
    assert lines[0].startswith(f"cashman: configuration error: {variable}: ")


def test_a_damaged_development_dpop_key_is_one_line_before_any_banner(tmp_path):
    (tmp_path / "dev-dpop-key.pem").write_text("not a key\n")  # beside the issuer's key
    server = dev_server(tmp_path, free_port())
    assert server.wait_exit() == 2
    assert server.stderr.strip().splitlines()[-1] == (
        "cashman: configuration error: DEV_ISSUER_KEY_FILE: cannot use the development "
        "DPoP key beside it (ValueError)"
    )
    assert "Traceback" not in server.stderr
    assert "TOKEN" not in server.stdout  # no banner whose lines could not work


def test_with_a_tenant_the_dev_issuer_stays_off(tmp_path):
    port = free_port()
    issuer = f"http://127.0.0.1:{free_port()}/"
    server = dev_server(tmp_path, port, AUTH0_ISSUER=issuer, API_AUDIENCE="https://api.test/")
    try:
        server.wait_http(f"http://127.0.0.1:{port}/ping")
        dev_token = dev_issuer.DevIssuer.load(tmp_path / "dev-issuer-key.pem").mint()
        resp = requests.get(
            f"http://127.0.0.1:{port}/secured/ping",
            headers={"Authorization": f"Bearer {dev_token}"},
            timeout=30,
        )
    finally:
        server.stop()
    assert "DEVELOPMENT ISSUER" not in server.stdout + server.stderr
    assert "TOKEN=" not in server.stdout
    assert resp.status_code in (401, 503)


@pytest.fixture
def copied_entry(tmp_path):
    """server.py in a directory of its own, so a test can give it a ``.env``."""
    shutil.copy(ROOT / "server.py", tmp_path / "server.py")
    return tmp_path


@pytest.mark.parametrize(
    ("dotenv", "env", "status"),
    [
        ("AUTH_LEEWAY=900\n", {}, 2),  # the file is read
        ("AUTH_LEEWAY=900\n", {"AUTH_LEEWAY": "5"}, 0),  # the environment wins
        ("AUTH_LEEWAY=900\n", {"AUTH_LEEWAY": ""}, 0),  # even empty (unset: the default)
        ("", {}, 0),
    ],
)
def test_dotenv_read_and_environment_wins(copied_entry, dotenv, env, status):
    (copied_entry / ".env").write_text(dotenv)
    settings = {"AUTH0_DOMAIN": "example.us.auth0.com", "API_AUDIENCE": "https://api.test/"}
    full_env = hermetic_env(copied_entry, **settings, PYTHONPATH=str(ROOT))
    for name in ("AUTH_LEEWAY", *env):
        full_env.pop(name, None)
    full_env.update(env)
    result = run_command([PYTHON, "-c", "import server"], full_env, cwd=copied_entry)
    assert result.returncode == status, result.stderr
    assert "Traceback" not in result.stderr


UNUSABLE_DOTENV = {
    # what some Windows editors save as "Unicode"
    "utf-16": "API_AUDIENCE=https://api.example.com/\n".encode("utf-16"),
    "latin-1": "API_AUDIENCE=https://api.example.com/caf\xe9\n".encode("latin-1"),
    "nul": b"API_AUDIENCE=https://api.example.com/\nAUTH_LEEWAY=\x00\n",
    # python-dotenv skipped it with a plain-text warning, the setting silently missing
    "unclosed-quote": b'API_AUDIENCE="https://api.example.com/\nAUTH_LEEWAY=5\n',
}


@pytest.mark.parametrize("entry", ["dev", "gunicorn"])
@pytest.mark.parametrize("content", UNUSABLE_DOTENV.values(), ids=UNUSABLE_DOTENV.keys())
def test_a_dotenv_that_cannot_be_used_is_one_line(copied_entry, entry, content):
    # python-dotenv's error was a stack trace and exit status 1 on every entry
    shutil.copy(ROOT / "gunicorn.conf.py", copied_entry / "gunicorn.conf.py")
    (copied_entry / ".env").write_bytes(content)
    settings = {"AUTH0_DOMAIN": "example.us.auth0.com", "BIND": f"127.0.0.1:{free_port()}"}
    env = hermetic_env(copied_entry, **settings, PYTHONPATH=str(ROOT))
    for name in ("API_AUDIENCE", "AUTH_LEEWAY"):
        env.pop(name, None)  # unset, so .env would fill them
    command = [PYTHON, "-c", "import server"] if entry == "dev" else [GUNICORN, "server:app"]
    result = run_command(command, env, cwd=copied_entry)
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == [result.stderr.strip()] and result.stderr.startswith(
        "cashman: configuration error: .env: "
    ), result.stderr


@pytest.mark.parametrize("port", ["0", "99999", "65536", "-1", "http", "\uff15\uff10\uff10\uff10"])
def test_dev_server_refuses_a_bad_port_option_in_one_line(tmp_path, port):
    server = dev_server(tmp_path, free_port(), "--port", port)
    assert server.wait_exit() == 2
    assert server.stderr.strip().splitlines() == [
        "cashman: configuration error: --port: must be a TCP port number (1-65535)"
    ]


def test_dev_server_on_a_port_in_use_is_one_line_and_no_banner(tmp_path):
    # the banner's curl lines named the port another program answers on; then werkzeug
    # failed with exit status 1
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = dev_server(tmp_path, port)
        assert server.wait_exit() == 2, server.stderr
    assert server.stdout == ""
    assert server.stderr.strip().splitlines() == [
        f"cashman: configuration error: --port: cannot listen on 127.0.0.1:{port} "
        "(Address already in use)"
    ]


def test_dev_server_in_dpop_required_mode_prints_only_lines_that_work(tmp_path):
    port = free_port()
    server = dev_server(tmp_path, port, AUTH_DPOP="required")
    try:
        server.wait_http(f"http://127.0.0.1:{port}/ping")
        (line,) = DPOP_CURL.findall(server.stdout)
        done = run_command(
            ["bash", "-c", f"{line} -s -o /dev/null -w '%{{http_code}}'"], hermetic_env(tmp_path)
        )
    finally:
        server.stop()
    assert done.stdout == "200", done.stderr
    assert curl_lines(server.stdout) == []
    assert "Authorization: Bearer" not in server.stdout
    assert "\nTOKEN=" not in server.stdout
    assert "--dpop-key" in server.stdout


def readme_banner_samples() -> list[str]:
    """The README's two samples of the banner (```text blocks of its set-up section)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    setup = readme.split("## Two commands", 1)[1].split("\n## ", 1)[0]
    return [block for block in re.findall(r"```text\n(.*?)```", setup, re.S)]


def test_readme_banner_samples_are_what_the_dev_server_prints(running):
    # the samples shorten tokens to "eyJhbGciOiJSUzI1NiIs..."; ports are this run's
    port = re.search(r"on http://127\.0\.0\.1:(\d+)", running.stdout).group(1)
    printed = running.stdout.splitlines()
    samples = readme_banner_samples()
    assert len(samples) == 2
    for sample in samples:
        at = 0
        for line in sample.splitlines():
            pattern = re.escape(line.replace("127.0.0.1:5000", f"127.0.0.1:{port}"))
            pattern = pattern.replace(re.escape("eyJhbGciOiJSUzI1NiIs..."), r"eyJ[\w.-]+")
            pattern = pattern.replace(re.escape("127.0.0.1:41234"), r"127\.0\.0\.1:\d+")
            # the tests keep the key files in a temporary directory and name their interpreter
            pattern = pattern.replace(re.escape(".venv/bin/python "), r"\S*python3? ")
            # ...whose mint line names the issuer's key file there
            pattern = pattern.replace(re.escape("instance/dev-issuer-key.pem"), r"\S*\.pem")
            key_file = re.escape("instance/dev-dpop-key.pem")
            pattern = pattern.replace(key_file, r"\S*dev-dpop-key\.pem")
            matches = [i for i in range(at, len(printed)) if re.fullmatch(pattern, printed[i])]
            assert matches, f"README banner line not printed (in order): {line!r}"
            at = matches[0] + 1
