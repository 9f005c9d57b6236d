"""The flask-smorest blueprint every part of this API is declared with.

Two things set it apart from flask-smorest's own: its ``arguments`` are parsed by
``parsing.BodyParser`` (SPEC §4: the body rules and the one error shape), and
``guarded`` puts the token check (and the scope check) in front of a view while
declaring the security requirement and the error answers a token check can give,
so a view is protected and documented by one line (SPEC §3, §4).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import flask_smorest

from auth import requires_auth, requires_scope
from cashman.openapi import DPOP_SECURITY_SCHEME, SECURITY_SCHEME, error_component
from cashman.parsing import BodyParser

View = TypeVar("View", bound=Callable[..., Any])

# what the token check alone can answer: a malformed header (400), no or a bad token
# (401), a scope the token lacks (403, only where a scope is needed), the issuer's keys
# or the database out of reach (503)
TOKEN_ERRORS = (400, 401, 503)
SCOPE_ERRORS = (400, 401, 403, 503)


class Blueprint(flask_smorest.Blueprint):
    """flask-smorest ``Blueprint`` (same arguments) with this API's body parser."""

    ARGUMENTS_PARSER = BodyParser()

    def guarded(self, scope: str | None, *errors: int) -> Callable[[View], View]:
        """Require a valid access token, and ``scope`` unless it is None, before anything
        else of the view runs (so before its body is read), and document both: the
        security requirement (either scheme: ``openapi.OfferedSchemes`` keeps those the
        mode offers) and the error answers of the check, plus ``errors`` (the statuses
        the view itself may answer)."""

        statuses = (*(SCOPE_ERRORS if scope else TOKEN_ERRORS), *errors)
        scopes = [scope] if scope else []
        # one doc() layer, not an alt_response per status: each decorator of
        # flask-smorest wraps the view in one more call per request
        documented = self.doc(
            security=[{SECURITY_SCHEME: scopes}, {DPOP_SECURITY_SCHEME: scopes}],
            responses={str(status): error_component(status) for status in statuses},
        )

        def decorate(view: View) -> View:
            view = documented(view)
            return requires_scope(scope)(view) if scope else requires_auth(view)

        return decorate
