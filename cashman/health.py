"""Readiness: ``GET /readyz`` answers 200 only when the database answers.

``/ping`` says the process is alive; ``/readyz`` says it can serve: a load
balancer should send traffic only to instances whose database round trip
(``SELECT 1``) works, and a 503 takes one out of rotation until it does.
Public, like ``/ping``: it reveals nothing but "ready" or "not ready".
"""

from __future__ import annotations

import logging

from flask import Blueprint
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from cashman.database import current_database

bp = Blueprint("health", __name__)
logger = logging.getLogger(__name__)

NOT_READY = {
    "code": "not_ready",
    "description": "The service cannot reach its database; retry later",
}


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
def readyz():
    """Readiness: 200 when the database answers, else 503."""
    headers = {"Cache-Control": "no-store"}
    if is_database_ready():
        return {"status": "ready"}, 200, headers
    return NOT_READY, 503, {**headers, "Retry-After": "5"}
