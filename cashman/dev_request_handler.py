"""The development server's request handler (``python server.py``, ``make run``): werkzeug's,
with nothing of a request in its log and no HTML in its own answers (SPEC §3, §3a step 8,
§4).

werkzeug's handler writes an access line per request (it would print the query string:
``?access_token=``), and refuses a request it cannot parse (a malformed request line, an
unknown HTTP version, a head too long) through ``http.server``'s ``send_error``, which
logs the offending text, puts it in the status line's reason phrase and answers an HTML
page quoting it: a token sent where the HTTP version belongs went into all three. Here
the app logs one redacted JSON line per request itself (``cashman.request_log``); a
refusal is the API's JSON error shape with the status's standard reason, logged by its
status alone; and every line the handler still writes passes the same redaction as
gunicorn's (``cashman.redaction``).

Bound to a loopback address (always, with the development issuer), it answers only
requests naming a loopback host (421 otherwise), in ``Host`` and in an absolute-form
target, which werkzeug takes as the request's host: a web page on a name rebound to
127.0.0.1 (DNS rebinding) would otherwise reach it as its own origin, past
``CORS_ORIGINS``. Bound elsewhere (``--host 0.0.0.0`` with a tenant configured), other
machines call it by their own names for it, and no name is refused.
"""

from __future__ import annotations

from http import HTTPStatus
from urllib.parse import urlsplit

from werkzeug.serving import WSGIRequestHandler

from auth.loopback import is_loopback, names_loopback
from cashman.errors import generic_error_body
from cashman.redaction import redact_text

_NO_BODY = (HTTPStatus.NO_CONTENT, HTTPStatus.RESET_CONTENT, HTTPStatus.NOT_MODIFIED)


class QuietRequestHandler(WSGIRequestHandler):
    """``WSGIRequestHandler`` without its access line, with JSON refusals and redacted logs."""

    def run_wsgi(self) -> None:
        """The app, unless the request has two ``Host`` fields (400, RFC 9112 §3.2) or,
        on a loopback address, names another host (421). A request without ``Host``
        reaches the app, which refuses it in HTTP/1.1 (``cashman.request_cycle``)."""
        hosts = self.headers.get_all("Host") or []
        if len(hosts) > 1:
            self.send_error(HTTPStatus.BAD_REQUEST)
        elif self._guards_host() and not all(map(names_loopback, self._named_hosts(hosts))):
            self.send_error(HTTPStatus.MISDIRECTED_REQUEST)
        else:
            super().run_wsgi()

    def parse_request(self) -> bool:
        """``http.server``'s parsing, with the request target kept as received.

        Since CPython 3.11.4 (gh-87389) ``http.server`` reduces a target's leading ``//``
        to ``/`` in ``self.path``, which werkzeug then passes on as ``RAW_URI``: a DPoP
        proof signed for ``//incomes`` failed its ``htu`` check here and passed on the
        production servers (SPEC §3a: the request path as received). The rewrite guards
        ``SimpleHTTPRequestHandler``'s redirects, which this server does not make;
        werkzeug routes such a target by its path (``PATH_INFO``) as before.
        """
        if not super().parse_request():
            return False
        words = self.requestline.split()
        if len(words) == 3 and words[1].startswith("//"):
            try:  # werkzeug splits it as a URL: "//[" would be a traceback, no answer
                urlsplit(words[1])
            except ValueError:
                return True  # http.server's "/[...": a JSON 404, as before
            self.path = words[1]
        return True

    def _guards_host(self) -> bool:
        return is_loopback(str(self.server.server_address[0]))

    def _named_hosts(self, hosts: list[str]) -> list[str]:
        """The hosts the request names: its ``Host``, and an absolute-form target's
        (RFC 9112 §3.2.2), which werkzeug hands the app as ``HTTP_HOST``."""
        if "://" in self.path:
            try:
                return [*hosts, urlsplit(self.path).netloc]
            except ValueError:  # an unclosed IPv6 bracket
                return [*hosts, ""]
        return hosts

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Skip werkzeug's per-request line: the app writes its own."""

    def log(self, type: str, message: str, *args: object) -> None:
        """werkzeug's line, formatted first, then with tokens redacted."""
        super().log(type, "%s", redact_text(message % args if args else message))

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Refuse a request the server could not take: ``code`` (an HTTP status) with its
        standard reason and the JSON body of ``cashman.errors.generic_error_body``, then
        close. ``message`` and ``explain`` (``http.server``'s, which may quote the request
        line) are neither sent nor logged."""
        self.log_error("code %d, refused before the app", code)
        # a request line without a valid version leaves http.server taking it for HTTP/0.9,
        # whose answers have no head: a refusal always has one (status, type, length)
        self.request_version = self.protocol_version
        self.send_response(code)  # no message: http.server's standard reason for the code
        self.send_header("Connection", "close")
        self.close_connection = True
        body = b""
        if code >= 200 and code not in _NO_BODY:
            body = generic_error_body(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)
