"""What reaches the app on both production servers, and what the server refuses itself.

Request heads leave room for an 8 KiB token, so an oversized one gets the
API's JSON 400 (SPEC §3, §6); bodies the server cannot deliver are the API's
JSON 400; heads past the server's own limits get the server's answer, as the
README documents it; and no token ever reaches a log line, the server's own
included. One server of each kind per module; raw sockets where ``requests``
would refuse to send the bytes. Loopback only, every socket has a timeout.
"""

from __future__ import annotations

import json

import pytest
import requests

from tests.support import raw_http

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]
TIMEOUT_S = 20


@pytest.mark.parametrize(
    ("token_length", "status", "code"),
    [
        (8192, 401, "invalid_token"),  # the largest token allowed reaches the verifier
        (8193, 400, "invalid_header"),  # one more: the app's own JSON 400, not the server's
        (16000, 400, "invalid_header"),
    ],
)
def test_large_tokens_reach_the_app(shared_server, token_length, status, code):
    headers = {"Authorization": "Bearer " + "a" * token_length, "X-Extra": "b" * 2000}
    resp = requests.get(f"{shared_server.url}/secured/ping", headers=headers, timeout=TIMEOUT_S)
    assert (resp.status_code, resp.json()["code"]) == (status, code)


def test_a_real_token_is_verified_over_http(shared_server, write_token):
    headers = {"Authorization": f"Bearer {write_token}"}
    resp = requests.get(f"{shared_server.url}/secured/ping", headers=headers, timeout=TIMEOUT_S)
    assert resp.status_code == 200


@pytest.mark.parametrize(
    "value",
    [b"Bearer abc\xc3\xa9", b"Bearer \xff", b"", b"   "],
    ids=["utf-8", "latin-1", "empty", "blank"],
)
def test_non_ascii_or_empty_authorization_is_the_apps_400(shared_server, value):
    # SPEC §3 step 1: non-ASCII is a grammar violation, whatever the server makes of the
    # bytes (granian hands the app an empty value for them)
    raw = b"GET /secured/ping HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: " + value
    raw += b"\r\nConnection: close\r\n\r\n"
    with raw_http.connect(shared_server.port) as sock:
        raw_http.send_all(sock, raw)
        answer = raw_http.read_response(sock)
    assert (answer.status, json.loads(answer.body)["code"]) == (400, "invalid_header")


@pytest.mark.parametrize(
    ("fields", "status", "code"),
    [
        ((b"Basic YTpi", b"Basic YzpK"), 400, "invalid_header"),
        ((b"Basic YTpi", b"Token y"), 400, "invalid_header"),
        ((b"Basic YTpi", b"Bearer abc"), 400, "invalid_header"),
        ((b"Bearer abc", b"Bearer abc"), 400, "invalid_header"),
        ((b"", b"Bearer abc"), 400, "invalid_header"),  # an empty field first
        ((b" ", b"Basic YTpi"), 400, "invalid_header"),
        ((b'Digest username="a", realm="b"',), 401, "authorization_header_missing"),
    ],
)
def test_two_authorization_fields_are_a_400_whatever_their_schemes(
    shared_server, fields, status, code
):
    # SPEC §3 step 1: two Authorization headers are a 400; each server joins them
    # into one value before the app sees them (RFC 9110 §5.3)
    raw = b"GET /secured/ping HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    raw += b"".join(b"Authorization: " + value + b"\r\n" for value in fields)
    with raw_http.connect(shared_server.port) as sock:
        raw_http.send_all(sock, raw + b"Connection: close\r\n\r\n")
        answer = raw_http.read_response(sock)
    assert (answer.status, json.loads(answer.body)["code"]) == (status, code)


@pytest.mark.parametrize(
    ("head", "status"),
    [
        # RFC 9112 §3.2: a server MUST answer 400 to an HTTP/1.1 request without Host, or
        # with two; granian served both
        (b"GET /ping HTTP/1.1\r\n", 400),
        (b"GET /ping HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: example.com\r\n", 400),
        (b"GET /ping HTTP/1.1\r\nHost: \r\n", 400),
        (b"GET /ping HTTP/1.0\r\n", 200),  # HTTP/1.0 may leave it out
        (b"GET /ping HTTP/1.1\r\nHost: 127.0.0.1\r\n", 200),
    ],
)
def test_host_field_missing_or_repeated_is_a_400(shared_server, head, status):
    with raw_http.connect(shared_server.port) as sock:
        raw_http.send_all(sock, head + b"Connection: close\r\n\r\n")
        answer = raw_http.read_response(sock)
    assert answer.status == status
    assert answer.headers["content-type"] == "application/json"
    if status == 400:
        assert json.loads(answer.body)["code"] in ("invalid_host", "bad_request")


# what each server answers itself, before the app can (the README's table)
REFUSED = {
    "huge head": (b"GET /ping HTTP/1.1\r\nHost: x\r\nX-A: " + b"a" * 300_000 + b"\r\n\r\n", 431),
    "too many headers": (
        b"GET /ping HTTP/1.1\r\nHost: x\r\n"
        + b"".join(b"X-%d: a\r\n" % i for i in range(120))
        + b"\r\n",
        431,
    ),
    "huge URL": (b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
    "bad Content-Length": (b"POST /incomes HTTP/1.1\r\nHost: x\r\nContent-Length: x\r\n\r\n", 400),
    "bad request line": (b"GET /\x01 HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    "negative Content-Length": (
        b"POST /incomes HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
        400,
    ),
}


GUNICORN_CODES = {400: "bad_request", 414: "uri_too_long", 431: "request_header_fields_too_large"}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_server_refuses_what_it_cannot_parse_and_closes(shared_server, case):
    raw, status = REFUSED[case]
    with raw_http.connect(shared_server.port) as sock:
        raw_http.send_all(sock, raw)
        answer = raw_http.read_response(sock)
        rest = raw_http.read_to_close(sock)
    assert (answer.status, answer.closes, rest) == (status, True, b"")
    if shared_server.server == "granian":
        assert (answer.body, "content-type" in answer.headers) == (b"", False)
    else:  # gunicorn's own refusals, in the API's error shape (never HTML)
        assert answer.headers["content-type"] == "application/json"
        assert json.loads(answer.body)["code"] == GUNICORN_CODES[status]


def test_content_length_with_transfer_encoding_is_refused_or_framed_by_chunks(shared_server):
    # RFC 9112 §6.3: a server may refuse it (gunicorn: 400, in the API's shape) or read the
    # body by its chunks (granian: the app answers, here 401), and closes either way
    raw = (
        b"POST /incomes HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
    )
    with raw_http.connect(shared_server.port) as sock:
        raw_http.send_all(sock, raw)
        answer = raw_http.read_response(sock)
        rest = raw_http.read_to_close(sock)
    expected = {"gunicorn": (400, "bad_request"), "granian": (401, "authorization_header_missing")}
    code = json.loads(answer.body)["code"]
    assert (answer.status, code) == expected[shared_server.server]
    assert (answer.closes, rest) == (True, b"")


# gunicorn refuses a coding it does not know itself; the app refuses the rest
TRANSFER_CODING_CODES = {
    ("gunicorn", "foo, chunked"): "not_implemented",
    ("gunicorn", "gzip, chunked"): "unsupported_transfer_coding",
    ("granian", "foo, chunked"): "unsupported_transfer_coding",
    ("granian", "gzip, chunked"): "unsupported_transfer_coding",
}


@pytest.mark.parametrize("coding", ["foo, chunked", "gzip, chunked"])
def test_a_transfer_coding_other_than_chunked_is_a_501(shared_server, write_token, coding):
    # RFC 9112 §6.1; the body was read by its chunks and the other coding ignored: a
    # "gzip, chunked" body of plain JSON created a row, and granian created one for "foo"
    body = b'{"description": "te", "amount": 1}'
    raw = chunked_request(
        "POST", "/incomes", write_token, b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
    )
    raw = raw.replace(b"Transfer-Encoding: chunked", f"Transfer-Encoding: {coding}".encode())
    answer = raw_http.exchange(shared_server.port, raw)
    head, _, payload = answer.partition(b"\r\n\r\n")
    # (gunicorn writes the app's reason phrases in upper case: README, Errors)
    assert head.lower().startswith(b"http/1.1 501 not implemented\r\n"), head
    expected = TRANSFER_CODING_CODES[(shared_server.server, coding)]
    assert json.loads(payload)["code"] == expected
    listed = requests.get(
        f"{shared_server.url}/incomes",
        headers={"Authorization": f"Bearer {write_token}"},
        timeout=TIMEOUT_S,
    )
    assert "te" not in [item["description"] for item in listed.json()]


def test_chunked_in_another_case_is_read(shared_server, write_token):
    # codings are case-insensitive (RFC 9112 §7): the check above must not refuse it
    body = b'{"description": "te-case", "amount": 1}'
    raw = chunked_request(
        "POST", "/incomes", write_token, b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
    )
    raw = raw.replace(b"Transfer-Encoding: chunked", b"Transfer-Encoding: Chunked")
    answer = raw_http.exchange(shared_server.port, raw)
    assert answer.startswith(b"HTTP/1.1 201"), answer[:200]


def chunked_request(method: str, path: str, token: str, body: bytes) -> bytes:
    head = (
        f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
        "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body


# gunicorn reports broken framing to the app, which answers invalid_body; granian ends
# the body where its framing broke (an error reads as the end), so the app parses what
# came before it. JSON is self-delimiting: that prefix is never a different valid request.
BROKEN_BODY_CODE = {"gunicorn": "invalid_body", "granian": "invalid_json"}


@pytest.mark.parametrize("method", ["POST", "PATCH"])
@pytest.mark.parametrize(
    ("body", "half_close"),
    [
        (b"zz\r\nabc\r\n0\r\n\r\n", False),  # chunk size not hex
        (b"3\r\nabcXY0\r\n\r\n", False),  # no CRLF after the chunk's data
        (b'20\r\n{"description": "x"', True),  # the client leaves mid-chunk
    ],
)
def test_broken_chunked_body_is_a_json_400_without_traceback(
    shared_server, write_token, method, body, half_close
):
    path = "/incomes/1" if method == "PATCH" else "/incomes"
    raw = chunked_request(method, path, write_token, body)
    answer = raw_http.exchange(shared_server.port, raw, half_close=half_close)
    head, _, payload = answer.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    assert (status, json.loads(payload)["code"]) == (400, BROKEN_BODY_CODE[shared_server.server])
    assert "Traceback" not in shared_server.output()


@pytest.mark.parametrize(
    "request_line",
    [
        "GET /incomes?access_token={token}\x01 HTTP/1.1",
        "GET /incomes?a=1&access_token={token} x HTTP/1.1",
        "GET /incomes/{token}\x01 HTTP/1.1",
    ],
)
def test_malformed_request_line_never_logs_the_token(shared_server, write_token, request_line):
    head = request_line.format(token=write_token) + "\r\nHost: 127.0.0.1\r\n"
    answer = raw_http.exchange(shared_server.port, (head + "Connection: close\r\n\r\n").encode())
    assert answer.startswith(b"HTTP/1.1 400")
    assert write_token not in shared_server.output()
    assert write_token.split(".")[2] not in shared_server.output()


def test_request_log_has_one_line_per_request_and_no_token(shared_server, write_token):
    requests.get(
        f"{shared_server.url}/secured/ping?access_token={write_token}",
        headers={"Authorization": f"Bearer {write_token}", "X-Request-ID": "limits-42"},
        timeout=TIMEOUT_S,
    )
    log = shared_server.log_path.read_text(errors="replace")
    lines = [json.loads(line) for line in log.splitlines() if '"request_id": "limits-42"' in line]
    assert [(line["path"], line["status"], line["sub"]) for line in lines] == [
        ("/secured/ping", 200, "user-1")
    ]
    assert write_token not in log
