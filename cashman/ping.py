"""Liveness (SPEC §4, §6): the public ``/ping`` and the token-checked ``/secured/ping``.

``/ping`` never depends on the database or the issuers; ``/secured/ping`` needs
any valid access token for this API and no scope. The views return their answer
as it is sent: ``MessageOut`` documents it (``alt_response``) without a dump per
request, which on answers this small would cost more than the rest of the view.
"""

from __future__ import annotations

from cashman.blueprint import Blueprint
from cashman.schemas import MessageOut

bp = Blueprint("ping", __name__, description="Is the API up, and is a token valid?")


@bp.get("/ping")
@bp.alt_response(200, schema=MessageOut, success=True)
def ping() -> dict[str, str]:
    """Public liveness check; needs no token."""
    return {"message": "pong: Cashman is up; this endpoint needs no token"}


@bp.get("/secured/ping")
@bp.guarded(None)
@bp.alt_response(200, schema=MessageOut, success=True)
def secured_ping() -> dict[str, str]:
    """Token check: any valid access token for this API, no scope needed."""
    return {"message": "pong: your access token is valid"}
