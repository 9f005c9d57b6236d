"""Liveness: the public ``/ping`` and the token-checked ``/secured/ping``."""

from flask import Blueprint

from auth import requires_auth

bp = Blueprint("ping", __name__)


@bp.get("/ping")
def ping():
    """Public liveness check; needs no token."""
    return {"message": "pong: Cashman is up; this endpoint needs no token"}


@bp.get("/secured/ping")
@requires_auth
def secured_ping():
    """Token check: any valid access token for this API, no scope needed."""
    return {"message": "pong: your access token is valid"}
