"""Bearer-token verification for Flask APIs guarded by Auth0 (RS256) access tokens.

The public surface::

    from auth import Auth, AuthSettings, requires_auth, requires_scope, current_owner

    auth = Auth(AuthSettings.from_env(os.environ))
    auth.init_app(app)

    @app.get("/things")
    @requires_scope("read:things")
    def list_things(): ...

``is_loopback(host)`` is the one answer to "may this host use plain http / may
the development issuer bind here" (SPEC §2). It never imports the application
that uses it.
"""

from auth.decorators import (
    current_claims,
    current_owner,
    granted_scopes,
    requires_auth,
    requires_scope,
)
from auth.errors import (
    AuthError,
    AuthorizationHeaderMissingError,
    InsufficientScopeError,
    InvalidClaimsError,
    InvalidHeaderError,
    InvalidTokenError,
    JwksUnavailableError,
    TokenExpiredError,
    render_auth_error,
)
from auth.extension import Auth
from auth.loopback import is_loopback
from auth.settings import AuthSettings, ConfigError
from auth.verify import TokenVerifier

__all__ = [
    "Auth",
    "AuthError",
    "AuthSettings",
    "AuthorizationHeaderMissingError",
    "ConfigError",
    "InsufficientScopeError",
    "InvalidClaimsError",
    "InvalidHeaderError",
    "InvalidTokenError",
    "JwksUnavailableError",
    "TokenExpiredError",
    "TokenVerifier",
    "current_claims",
    "current_owner",
    "granted_scopes",
    "is_loopback",
    "render_auth_error",
    "requires_auth",
    "requires_scope",
]
