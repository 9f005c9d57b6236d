"""Liveness (SPEC §4, §6): the public ``/ping`` and the token-checked ``/secured/ping``.

``/ping`` never depends on the database or the issuers; ``/secured/ping`` needs
any valid access token for this API and no scope. The views return their answer
as it is sent: ``MessageOut`` documents it (``alt_response``) without a dump per
request, which on answers this small would cost more than the rest of the view.
The body is written once, as the bytes ``jsonify`` would give (``jsonio``, newline
included): each request only wraps it in a response.
"""

from __future__ import annotations

from flask import Response

from cashman.blueprint import Blueprint
from cashman.jsonio import dumps_exact
from cashman.schemas import MessageOut

PING_MESSAGE = "pong: Cashman is up; this endpoint needs no token"
SECURED_PING_MESSAGE = "pong: your access token is valid"

bp = Blueprint("ping", __name__, description="Is the API up, and is a token valid?")


@bp.get("/ping")
@bp.alt_response(200, schema=MessageOut, success=True)
def ping() -> Response:
    """Public liveness check; needs no token."""
    return _answer(_PING_BODY)


@bp.get("/secured/ping")
@bp.guarded(None)
@bp.alt_response(200, schema=MessageOut, success=True)
def secured_ping() -> Response:
    """Token check: any valid access token for this API, no scope needed."""
    return _answer(_SECURED_PING_BODY)


def _body(message: str) -> bytes:
    return f"{dumps_exact({'message': message})}\n".encode()


_PING_BODY = _body(PING_MESSAGE)
_SECURED_PING_BODY = _body(SECURED_PING_MESSAGE)


def _answer(body: bytes) -> Response:
    return Response(body, content_type="application/json")
