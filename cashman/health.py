"""Readiness (SPEC §6): ``GET /readyz`` answers 200 only when this instance can serve.

``/ping`` says the process is alive; ``/readyz`` says it can serve: a load
balancer should send traffic only to instances whose database round trip
(``SELECT 1``) works and that hold a usable key set for every configured
issuer (fetched no longer than ``JWKS_MAX_STALE`` ago, or fetchable now); a
503 takes one out of rotation until they do. Public, like ``/ping``: the 503
names what is not ready (``database``, ``issuer[<position>]`` in the configured
order), never a URL, host or driver message.
"""

from __future__ import annotations

import logging

from flask import current_app
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from cashman.blueprint import Blueprint
from cashman.database import current_database
from cashman.errors import RETRY_AFTER_S, NotReadyError
from cashman.openapi import error_component
from cashman.schemas import ReadyOut

bp = Blueprint("health", __name__, description="Whether this instance can serve.")
logger = logging.getLogger(__name__)


def is_database_ready() -> bool:
    """Whether one ``SELECT 1`` round trip succeeds."""
    try:
        with current_database().engine.connect() as connection:
            connection.execute(text("SELECT 1")).scalar_one()
    except SQLAlchemyError as exc:
        # the class name only: driver messages can carry host names and users
        logger.warning("readiness check failed: %s", type(exc).__name__)
        return False
    return True


@bp.get("/readyz")
@bp.alt_response(503, response=error_component(503))
@bp.alt_response(200, schema=ReadyOut, success=True)
def readyz() -> dict[str, str]:
    """Readiness: 200 when the database answers and every issuer has usable keys, else 503."""
    not_ready = {} if is_database_ready() else {"database": ["does not answer"]}
    for position in current_app.extensions["auth"].unready_issuers():
        not_ready[f"issuer[{position}]"] = ["no usable key set"]
    if not_ready:
        raise NotReadyError(retry_after=RETRY_AFTER_S, errors=not_ready)
    return {"status": "ready"}
