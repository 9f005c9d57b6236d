"""``RedactTokens``: lines the app does not write (gunicorn's) never carry a token."""

from __future__ import annotations

import logging
import sys

import pytest

from cashman.redaction import REDACTED, RedactTokens, install_redaction


def record(msg, *args, exc_info=None):
    return logging.LogRecord("gunicorn.error", logging.WARNING, __file__, 1, msg, args, exc_info)


def formatted(rec):
    assert RedactTokens().filter(rec) is True
    return logging.Formatter("%(message)s").format(rec)


@pytest.mark.parametrize(
    ("line", "logged"),
    [
        (
            "'GET /incomes?access_token={jwt}\\x01 HTTP/1.1'",
            f"'GET /incomes?access_token={REDACTED} HTTP/1.1'",
        ),
        (
            "GET /x?a=1&access_token=short&b=2 HTTP/1.1",
            f"GET /x?a=1&access_token={REDACTED}&b=2 HTTP/1.1",
        ),
        ('GET /x?ACCESS_TOKEN=abc" x', f'GET /x?ACCESS_TOKEN={REDACTED}" x'),
        ("GET /tokens/{jwt} HTTP/1.1", f"GET /tokens/{REDACTED} HTTP/1.1"),
        ("Booting worker with pid: 42", "Booting worker with pid: 42"),
        # dotted Python names are not tokens: gunicorn's start-up line, a traceback's
        (
            "Using worker: cashman.gunicorn_worker.HeadReadingWorker",
            "Using worker: cashman.gunicorn_worker.HeadReadingWorker",
        ),
        (
            "in cashman.dpop_replay_cleanup.ReplayCleanup.run_one_batch_now",
            "in cashman.dpop_replay_cleanup.ReplayCleanup.run_one_batch_now",
        ),
        # ...but a token whose parts happen to look like names still goes
        ("x {named_jwt} y", f"x {REDACTED} y"),
        ("x {spaced_header} y", f"x {REDACTED} y"),
        ("x {short_es256} y", f"x {REDACTED} y"),
    ],
)
def test_filter_redacts_the_formatted_message(token, line, logged):
    jwt = token()
    shapes = {
        "jwt": jwt,
        # every part a name: a header of `{"`, `{ ` or `{\n`, a name-like signature
        "named_jwt": "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.abc_DEF",
        "spaced_header": "ewogImFsZyI6IkVTMjU2In0.eyAic3ViIjoieCJ9.sig",
        "short_es256": "abcdefghij.klmnopqrst." + "A" * 86,
    }
    rec = record("Invalid request from ip=%s: %s", "127.0.0.1", line.format(**shapes))
    assert formatted(rec) == f"Invalid request from ip=127.0.0.1: {logged}"
    assert rec.args is None


def test_filter_redacts_the_traceback(token):
    jwt = token()
    try:
        raise ValueError(f"bad line GET /?access_token={jwt}")
    except ValueError:
        rec = record("Error handling request", exc_info=sys.exc_info())
    text = formatted(rec)
    assert "ValueError" in text and f"access_token={REDACTED}" in text
    assert jwt not in text and jwt.split(".")[2] not in text


def test_install_redaction_covers_logger_and_handlers_once(token):
    logger = logging.getLogger("cashman.test.redaction")
    handler = logging.NullHandler()
    logger.addHandler(handler)
    try:
        install_redaction(logger.name)
        install_redaction(logger.name)
        assert [type(f) for f in logger.filters] == [RedactTokens]
        assert [type(f) for f in handler.filters] == [RedactTokens]
    finally:
        logger.removeHandler(handler)
        logger.filters.clear()
