"""Access-token verification for Flask APIs guarded by Auth0 (RS256) access tokens, as
Bearer tokens (RFC 6750) or DPoP-bound ones (RFC 9449).

The public surface::

    from auth import Auth, AuthSettings, requires_auth, requires_scope, current_owner

    auth = Auth(AuthSettings.from_env(os.environ), replay_store=...)  # DPoP jti store
    auth.init_app(app)

    @app.get("/things")
    @requires_scope("read:things")
    def list_things(): ...

``is_loopback(host)`` is the one answer to "may this host use plain http / may
the development issuer bind here" (SPEC §2). It never imports the application
that uses it.
"""

from auth.authentication import Authenticated, Authenticator
from auth.challenges import Challenges, render_auth_error
from auth.decorators import (
    current_claims,
    current_owner,
    granted_scopes,
    requires_auth,
    requires_scope,
)
from auth.dpop_settings import DPoPSettings
from auth.errors import (
    AuthError,
    AuthorizationHeaderMissingError,
    DPoPReplayUnavailableError,
    InsufficientScopeError,
    InvalidClaimsError,
    InvalidDPoPProofError,
    InvalidHeaderError,
    InvalidTokenError,
    JwksUnavailableError,
    ReplayedDPoPProofError,
    TokenExpiredError,
    UseDPoPNonceError,
)
from auth.events import AuthObserver
from auth.extension import Auth
from auth.loopback import is_loopback
from auth.replay import MemoryReplayStore, ReplayStore, ReplayStoreUnavailableError
from auth.settings import AuthSettings, ConfigError
from auth.verify import TokenVerifier

__all__ = [
    "Auth",
    "AuthError",
    "AuthObserver",
    "AuthSettings",
    "Authenticated",
    "Authenticator",
    "AuthorizationHeaderMissingError",
    "Challenges",
    "ConfigError",
    "DPoPReplayUnavailableError",
    "DPoPSettings",
    "InsufficientScopeError",
    "InvalidClaimsError",
    "InvalidDPoPProofError",
    "InvalidHeaderError",
    "InvalidTokenError",
    "JwksUnavailableError",
    "MemoryReplayStore",
    "ReplayStore",
    "ReplayStoreUnavailableError",
    "ReplayedDPoPProofError",
    "TokenExpiredError",
    "TokenVerifier",
    "UseDPoPNonceError",
    "current_claims",
    "current_owner",
    "granted_scopes",
    "is_loopback",
    "render_auth_error",
    "requires_auth",
    "requires_scope",
]
