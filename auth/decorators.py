"""``requires_auth`` / ``requires_scope`` for Flask views, and the verified claims.

Both run before the view's body parsing (use them as the outermost
decorators): an unauthenticated POST gets its 401 and a read-only token's POST
its 403, never a 415 or 422. They read only the ``Authorization`` header and,
under the DPoP scheme, the ``DPoP`` header; the verified claims (with ``cnf.jkt``
under DPoP) land on ``g.current_user``, the scheme on ``g.auth_scheme``. Scopes
are the space-separated ``scope`` claim (RFC 8693 §4.2) plus Auth0's RBAC
``permissions`` array; a claim of the wrong type grants nothing. Each guarded
request is reported once to the app's ``AuthObserver``: ``"success"`` or its code.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast, overload

from flask import current_app, g, request

from auth.errors import AuthError, InsufficientScopeError

if TYPE_CHECKING:
    from auth.authentication import Authenticated
    from auth.extension import Auth

F = TypeVar("F", bound=Callable[..., Any])


def current_auth() -> Auth:
    """The ``Auth`` registered on the current app by ``Auth.init_app``; else ``RuntimeError``."""
    try:
        return cast("Auth", current_app.extensions["auth"])
    except KeyError:
        raise RuntimeError("auth is not set up: call Auth(settings).init_app(app)") from None


def authenticate() -> dict[str, Any]:
    """Verify the request's credentials (SPEC §3, §3a) and store the claims on ``g.current_user``.

    Returns the claims; raises the ``AuthError`` of the first check that fails. The scheme
    the client used (also on a refusal, when known) is ``g.auth_scheme``.
    """
    return _authenticate(current_auth()).claims


def _field_values(environ: Mapping[str, Any], key: str) -> list[str]:
    """The values of one request header field, ``key`` its WSGI name (``HTTP_DPOP``): none
    or one, since a WSGI server joins repeated fields with commas (PEP 3333, RFC 9110
    §5.3). The list werkzeug's ``headers.getlist`` gives, from one lookup instead of a
    walk over every header of the request."""
    value = environ.get(key)
    return [] if value is None else [value]


def _authenticate(auth: Auth) -> Authenticated:
    environ = request.environ
    try:
        authenticated = auth.authenticator.authenticate(
            _field_values(environ, "HTTP_AUTHORIZATION"),
            lambda: _field_values(environ, "HTTP_DPOP"),
            # as the client sent it: werkzeug's request.method is upper-cased, and methods
            # are case-sensitive (RFC 9110 §9.1), so `get` is not `GET` for `htm`
            environ["REQUEST_METHOD"],
            lambda: auth.request_htu(request),
        )
    except AuthError as err:
        g.auth_scheme = err.scheme
        raise
    g.auth_scheme = authenticated.scheme
    g.current_user = authenticated.claims
    return authenticated


def _guard(scopes: frozenset[str], needed: str) -> None:
    """Authenticate, then require ``scopes``; report the outcome once to the observer."""
    auth = current_auth()
    try:
        authenticated = _authenticate(auth)
        if scopes and not scopes <= granted_scopes(authenticated.claims):
            err = InsufficientScopeError(needed)
            err.scheme = authenticated.scheme
            raise err
    except AuthError as err:
        auth.observer.authentication(err.code, err.scheme)
        raise
    auth.observer.authentication("success", authenticated.scheme)


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
        _guard(frozenset(), "")
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
    required = frozenset(scopes)

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            _guard(required, needed)
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
