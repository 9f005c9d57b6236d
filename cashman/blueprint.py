"""The flask-smorest blueprint every part of this API is declared with.

Three things set it apart from flask-smorest's own: its ``arguments`` are parsed by
``parsing.BodyParser`` (SPEC §4: the body rules and the one error shape);
``guarded`` puts the token check (and the scope check) in front of a view while
declaring the security requirement and the error answers a token check can give,
so a view is protected and documented by one line (SPEC §3, §4); and ``doc`` and
``alt_response`` only document: flask-smorest wraps the view in one more function per
decorator that does nothing but call it (through ``ensure_sync``) on every request, and
here that layer is folded away, the documentation kept on a copy of the view.
"""

from __future__ import annotations

import functools
import inspect
import types
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

    def doc(self, *args: Any, **kwargs: Any) -> Callable[[View], View]:
        """flask-smorest's ``doc`` (same arguments), without a layer per request."""
        return _folded(super().doc(*args, **kwargs))

    def alt_response(self, *args: Any, **kwargs: Any) -> Callable[[View], View]:
        """flask-smorest's ``alt_response`` (same arguments), without a layer per request."""
        return _folded(super().alt_response(*args, **kwargs))

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


def _folded(document: Callable[[View], View]) -> Callable[[View], View]:
    """``document`` (a flask-smorest decorator whose wrapper only calls the view), giving
    a copy of the view carrying the wrapper's documentation instead of the wrapper."""

    def decorate(view: View) -> View:
        wrapper = document(view)
        if not isinstance(view, types.FunctionType) or inspect.iscoroutinefunction(view):
            return wrapper  # an async view needs the wrapper's ensure_sync
        copy = types.FunctionType(
            view.__code__, view.__globals__, view.__name__, view.__defaults__, view.__closure__
        )
        copy.__kwdefaults__ = view.__kwdefaults__
        functools.update_wrapper(copy, view)
        copy.__dict__.update(wrapper.__dict__)  # the documentation flask-smorest added
        return copy  # type: ignore[return-value]

    return decorate
