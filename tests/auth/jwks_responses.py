"""Key-set responses for the JWKS tests: compressed bodies and a catalogue of hostile ones."""

from __future__ import annotations

import gzip
import json
import zlib

import requests
import responses

from auth.testing import AuthKit

KID = "test-key-1"


def fetches(rsps: responses.RequestsMock, url: str) -> int:
    """How many requests ``rsps`` saw for ``url``."""
    return sum(1 for call in rsps.calls if call.request.url == url)


def oversized(kit: AuthKit) -> str:
    """A valid key set made larger than 1 MiB: only the size cap can refuse it."""
    return json.dumps({**kit.jwks(), "padding": "x" * (1024 * 1024)})


def compress(data: bytes, encoding: str) -> bytes:
    """``data`` as a server would send it with ``Content-Encoding: encoding``."""
    if encoding in {"gzip", "x-gzip"}:
        return gzip.compress(data)
    if encoding == "deflate":
        return zlib.compress(data)  # RFC 9110 §8.4.1.2: deflate is the zlib format
    return data  # br, zstd, unknown: any bytes, the encoding alone must refuse them


def encoded(kit: AuthKit, encoding: str, padding: int = 0) -> dict[str, object]:
    """The kit's key set, whitespace-padded by ``padding`` bytes, compressed as ``encoding``.

    The padding keeps the document valid JSON: only the decompressed-size cap can refuse it.
    """
    text = json.dumps(kit.jwks()).encode()
    body = text[:-1] + b" " * padding + text[-1:]
    return {
        "body": compress(body, encoding.split(",")[0].lower()),
        "headers": {"Content-Encoding": encoding},
        "content_type": "application/json",
    }


# Each builder gets the kit and returns ``responses`` arguments; where the body would be a
# valid key set, only the rule under test (status, size, encoding) makes it unusable.
BAD_RESPONSES = {
    "garbage": lambda kit: {"body": "not json at all"},
    "html": lambda kit: {"body": "<html><body>nginx</body></html>", "content_type": "text/html"},
    "empty body": lambda kit: {"body": ""},
    "empty keys": lambda kit: {"json": {"keys": []}},
    "keys not array": lambda kit: {"json": {"keys": "none"}},
    "array document": lambda kit: {"json": kit.jwks()["keys"]},
    "only symmetric": lambda kit: {"json": {"keys": [{"kty": "oct", "k": "c2Vj", "kid": KID}]}},
    "bad material": lambda kit: {
        "json": {"keys": [{"kty": "RSA", "kid": KID, "n": "!!", "e": "AQAB"}]}
    },
    "only key has a huge number": lambda kit: {
        "body": json.dumps({"keys": [{**kit.jwks()["keys"][0], "e": "E"}]}).replace(
            '"E"', "1" * 5000
        )
    },
    "nan": lambda kit: {"body": '{"keys": [NaN]}'},
    "utf-16": lambda kit: {"body": json.dumps(kit.jwks()).encode("utf-16")},
    "404": lambda kit: {"status": 404, "json": kit.jwks()},
    "500": lambda kit: {"status": 500, "json": kit.jwks()},
    "201": lambda kit: {"status": 201, "json": kit.jwks()},
    "204": lambda kit: {"status": 204},
    "302": lambda kit: {
        "status": 302,
        "headers": {"Location": "https://elsewhere.example.com/jwks.json"},
    },
    "oversized": lambda kit: {"body": oversized(kit)},
    "oversized no length": lambda kit: {
        "body": oversized(kit),
        "auto_calculate_content_length": False,
    },
    "gzip header, plain body": lambda kit: {
        "json": kit.jwks(),
        "headers": {"Content-Encoding": "gzip"},
    },
    "gzip bomb": lambda kit: encoded(kit, "gzip", padding=10 * 1024 * 1024),
    "deflate bomb": lambda kit: encoded(kit, "deflate", padding=10 * 1024 * 1024),
    "gzip just past the cap": lambda kit: encoded(kit, "gzip", padding=1024 * 1024),
    "gzip truncated": lambda kit: {
        **encoded(kit, "gzip"),
        "body": gzip.compress(json.dumps(kit.jwks()).encode())[:-12],
    },
    "gzip trailing garbage": lambda kit: {
        **encoded(kit, "gzip"),
        "body": gzip.compress(json.dumps(kit.jwks()).encode()) + b"junk",
    },
    "gzip twice": lambda kit: encoded(kit, "gzip, gzip"),
    "br": lambda kit: encoded(kit, "br"),
    "zstd": lambda kit: encoded(kit, "zstd"),
    "unknown encoding": lambda kit: encoded(kit, "x-custom"),
    "connection reset": lambda kit: {"body": requests.ConnectionError("reset")},
    "timeout": lambda kit: {"body": requests.Timeout("slow")},
}
