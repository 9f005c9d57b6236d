"""Readiness (SPEC §6): ``GET /readyz`` answers 200 only when the database answers.

``/ping`` says the process is alive; ``/readyz`` says it can serve: a load
balancer should send traffic only to instances whose database round trip
(``SELECT 1``) works, and a 503 takes one out of rotation until it does.
Public, like ``/ping``: it reveals nothing but "ready" or "not ready".
"""

from __future__ import annotations

import logging

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
    """Readiness: 200 when the database answers, else 503."""
    if not is_database_ready():
        raise NotReadyError(retry_after=RETRY_AFTER_S)
    return {"status": "ready"}
