"""``htu`` normalisation (RFC 3986 §6.2.2-§6.2.3) and the request URI it is compared with."""

from __future__ import annotations

import pytest
from werkzeug.test import EnvironBuilder

from auth.htu import normalize_uri, raw_request_path, remove_dot_segments, request_htu


@pytest.mark.parametrize(
    ("uri", "normal"),
    [
        # §6.2.2.1 case: scheme and host lower-cased, path and userinfo kept
        ("HTTPS://API.Example.COM/Incomes", "https://api.example.com/Incomes"),
        ("https://User@api.example.com/", "https://User@api.example.com/"),
        # §6.2.2.1 percent-encoding hex in upper case
        ("https://api.example.com/a%2fb%c3%a4", "https://api.example.com/a%2Fb%C3%A4"),
        # §6.2.2.2 escaped unreserved characters decoded; reserved ones stay escaped
        ("https://api.example.com/%7Euser/%41%2D%2E%5F", "https://api.example.com/~user/A-._"),
        ("https://api.example.com/a%3Fb%23c", "https://api.example.com/a%3Fb%23c"),
        ("https://%61pi.example.com/", "https://api.example.com/"),
        # §6.2.2.3 dot segments removed
        ("https://api.example.com/a/./b/../c", "https://api.example.com/a/c"),
        ("https://api.example.com/a/b/..", "https://api.example.com/a/"),
        ("https://api.example.com/../../x", "https://api.example.com/x"),
        # §6.2.3 default port dropped (also an empty one), empty path is "/"
        ("https://api.example.com:443/x", "https://api.example.com/x"),
        ("http://localhost:80/x", "http://localhost/x"),
        ("https://api.example.com:/x", "https://api.example.com/x"),
        ("https://api.example.com", "https://api.example.com/"),
        ("https://api.example.com:8443", "https://api.example.com:8443/"),
        ("http://localhost:443/", "http://localhost:443/"),
        ("https://[::1]:443/x", "https://[::1]/x"),
        ("https://[::1]:8443/x", "https://[::1]:8443/x"),
        # RFC 9449 §4.3 check 9: query and fragment are ignored
        ("https://api.example.com/incomes?limit=5#top", "https://api.example.com/incomes"),
    ],
)
def test_normalize_uri(uri, normal):
    assert normalize_uri(uri) == normal


@pytest.mark.parametrize(
    "uri",
    [
        None,
        42,
        "",
        "/incomes",  # relative: no scheme, no authority
        "//api.example.com/incomes",
        "https:///incomes",
        "https://api.example.com/%zz",
        "https://api.example.com/%4",
        "https://api.example.com/caf\u00e9",  # an IRI, not a URI
        "https://api.example.com/a b",
        "https://api.example.com:x/",
        "https://api.example.com:99999/",
        "https://api.example.com:1:2/",
        "https://[::1/",
        "https://[::1]x/",
        "https://[]/",
    ],
)
def test_normalize_uri_refuses_what_is_not_an_absolute_uri(uri):
    assert normalize_uri(uri) is None


def test_equivalent_spellings_normalise_alike():
    spellings = [
        "https://api.example.com/incomes/%31",
        "HTTPS://API.EXAMPLE.COM:443/incomes/1",
        "https://api.example.com/x/../incomes/./1",
    ]
    assert {normalize_uri(uri) for uri in spellings} == {"https://api.example.com/incomes/1"}


@pytest.mark.parametrize(
    ("path", "resolved"),
    [
        # RFC 3986 §5.4.1-§5.4.2 examples, as absolute paths
        ("/a/b/c/./../../g", "/a/g"),
        ("/b/c/../d", "/b/d"),
        ("/..", "/"),
        ("/.", "/"),
        ("/a/.", "/a/"),
        ("/a//..", "/a/"),
        ("/a/.b/..c", "/a/.b/..c"),
        ("", ""),
    ],
)
def test_remove_dot_segments(path, resolved):
    assert remove_dot_segments(path) == resolved


@pytest.mark.parametrize(
    ("base", "path", "uri"),
    [
        ("https://api.example.com", "/incomes", "https://api.example.com/incomes"),
        ("https://api.example.com/", "/incomes", "https://api.example.com/incomes"),
        ("https://example.com/api", "/incomes", "https://example.com/api/incomes"),
        ("https://example.com/api/", "/incomes/%31", "https://example.com/api/incomes/%31"),
    ],
)
def test_request_htu_joins_base_and_path(base, path, uri):
    assert request_htu(base, path) == uri


def _environ(path: str, **extra: str) -> dict:
    environ = EnvironBuilder(path=path, headers={"Host": "evil.example"}).get_environ()
    # werkzeug's test environ has both raw targets; each test sets the ones it is about
    environ.pop("RAW_URI", None)
    environ.pop("REQUEST_URI", None)
    environ.update(extra)
    return environ


def test_raw_request_path_keeps_the_escapes_as_sent():
    environ = _environ("/incomes/a b", RAW_URI="/incomes/%7e%2F?x=1")
    assert raw_request_path(environ) == "/incomes/%7e%2F"


def test_raw_request_path_reads_request_uri_without_raw_uri():
    environ = _environ("/x", REQUEST_URI="/incomes?limit=2")
    assert raw_request_path(environ) == "/incomes"


def test_raw_request_path_of_an_absolute_form_target_ignores_its_host():
    environ = _environ("/x", RAW_URI="http://evil.example/incomes?q")
    assert raw_request_path(environ) == "/incomes"


def test_raw_request_path_of_asterisk_is_root():
    assert raw_request_path(_environ("/x", RAW_URI="*")) == "/"


def test_raw_request_path_without_raw_target_reencodes_path_info():
    # granian hands over only the decoded SCRIPT_NAME + PATH_INFO (latin-1 WSGI strings)
    environ = _environ("/ignored")
    environ.update(SCRIPT_NAME="/api", PATH_INFO="/caf\u00c3\u00a9/a b")
    assert raw_request_path(environ) == "/api/caf%C3%A9/a%20b"


def test_request_uri_never_uses_host_or_forwarded_headers():
    environ = _environ("/incomes", RAW_URI="/incomes")
    environ["HTTP_X_FORWARDED_HOST"] = "evil.example"
    htu = request_htu("https://api.example.com", raw_request_path(environ))
    assert normalize_uri(htu) == "https://api.example.com/incomes"
