"""``requires_auth`` / ``requires_scope`` for Flask views, and the verified claims.

Both run before the view's body parsing (use them as the outermost
decorators): an unauthenticated POST gets its 401 and a read-only token's POST
its 403, never a 415 or 422. They read only the ``Authorization`` header; the
verified claims land on ``g.current_user``. Scopes are the space-separated
``scope`` claim (RFC 8693 §4.2) plus Auth0's RBAC ``permissions`` array; a
claim of the wrong type grants nothing.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, cast, overload

from flask import current_app, g, request

from auth.bearer import parse_bearer
from auth.errors import InsufficientScopeError

if TYPE_CHECKING:
    from auth.extension import Auth

F = TypeVar("F", bound=Callable[..., Any])


def current_auth() -> Auth:
    """The ``Auth`` registered on the current app by ``Auth.init_app``; else ``RuntimeError``."""
    try:
        return cast("Auth", current_app.extensions["auth"])
    except KeyError:
        raise RuntimeError("auth is not set up: call Auth(settings).init_app(app)") from None


def authenticate() -> dict[str, Any]:
    """Verify the request's Bearer token (SPEC §3) and store its claims on ``g.current_user``.

    Returns the claims; raises the ``AuthError`` of the first check that fails.
    """
    token = parse_bearer(request.headers.getlist("Authorization"))
    claims = current_auth().verifier.verify(token)
    g.current_user = claims
    return claims


def granted_scopes(claims: dict[str, Any]) -> frozenset[str]:
    """Scopes from ``scope`` (space-separated string) and ``permissions`` (array of strings).

    SPEC §3 authorization: both count; a claim of another type grants nothing.
    """
    scopes: set[str] = set()
    scope = claims.get("scope")
    if isinstance(scope, str):
        scopes.update(s for s in scope.split(" ") if s)
    permissions = claims.get("permissions")
    if isinstance(permissions, list):
        scopes.update(p for p in permissions if isinstance(p, str) and p)
    return frozenset(scopes)


@overload
def requires_auth(view: F) -> F: ...
@overload
def requires_auth(view: None = None) -> Callable[[F], F]: ...
def requires_auth(view: F | None = None) -> F | Callable[[F], F]:
    """Require a valid access token, no scope; ``@requires_auth`` or ``@requires_auth()``.

    The view runs only after ``authenticate`` succeeded; any ``AuthError`` reaches the
    app's handler (``Auth.init_app``) before the view looks at the body.
    """
    if view is None:
        return requires_auth

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        authenticate()
        return view(*args, **kwargs)

    return cast(F, wrapper)


def requires_scope(*scopes: str) -> Callable[[F], F]:
    """Require a valid access token granting every one of ``scopes`` (SPEC §3 authorization).

    Raises ``ValueError`` at decoration for no scope or one with a space; per request,
    ``InsufficientScopeError`` (403, naming ``scopes``) after a successful authentication.
    """
    if not scopes or not all(isinstance(s, str) and s and " " not in s for s in scopes):
        raise ValueError("requires_scope needs one or more scope names without spaces")
    needed = " ".join(scopes)

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            claims = authenticate()
            if not set(scopes) <= granted_scopes(claims):
                raise InsufficientScopeError(needed)
            return view(*args, **kwargs)

        return cast(F, wrapper)

    return decorate


def current_claims() -> dict[str, Any]:
    """The verified claims of the current request (``g.current_user``); else ``RuntimeError``."""
    claims = g.get("current_user")
    if claims is None:
        raise RuntimeError("no verified token: the view is not behind requires_auth")
    return cast("dict[str, Any]", claims)


def current_owner() -> str:
    """The caller's owner key: ``sub`` (AUTH0_DOMAIN) or ``"<iss> <sub>"`` (AUTH0_ISSUER)."""
    claims = current_claims()
    if current_auth().settings.owner_includes_issuer:
        return f"{claims['iss']} {claims['sub']}"
    return cast(str, claims["sub"])
