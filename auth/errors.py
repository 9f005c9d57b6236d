"""Authentication errors (RFC 6750 §3, RFC 9449 §7.1): one class per SPEC ``code``.

Each class knows its HTTP status, the SPEC ``code`` and the ``error`` attribute of
its challenge (``bearer_error``, whichever scheme the challenge is for), and
carries a fixed, generic description: never exception text, key ids or URLs, so
nothing an attacker sends or the issuer serves is echoed back. An instance also
knows the scheme the client used, when it got that far (``scheme``), which
decides the challenge its ``error`` goes on. ``auth.challenges`` turns any of
them into the response.
"""

from __future__ import annotations

import math


class AuthError(Exception):
    """Base class: a request that cannot be authenticated or authorized."""

    status: int = 401
    code: str = "invalid_token"
    bearer_error: str | None = "invalid_token"
    description: str = "The access token is invalid"
    #: the scheme the client used (``"Bearer"``, ``"DPoP"``), None before it is known or
    #: when it is not one the API accepts; set by whoever raised or passed the error on
    scheme: str | None = None

    def __init__(self, reason: str = "") -> None:
        """``reason``: why, for the server log only (never a token, never sent to the client)."""
        super().__init__(reason or self.code)
        self.reason = reason or self.code


class AuthorizationHeaderMissingError(AuthError):
    """No ``Authorization`` header, or a scheme the API does not accept (RFC 6750 §3.1)."""

    status, code, bearer_error = 401, "authorization_header_missing", None
    description = "An access token is required in the Authorization header"


class InvalidHeaderError(AuthError):
    """An ``Authorization`` header that breaks the RFC 6750 §2.1 grammar (for Bearer and
    DPoP alike, RFC 9449 §7.1), or two of them: ``invalid_request``."""

    status, code, bearer_error = 400, "invalid_header", "invalid_request"
    description = "The Authorization header is malformed"


class InvalidTokenError(AuthError):
    """Not a compact JWS, refused header, unknown key, bad signature, ``cnf``."""

    status, code, bearer_error = 401, "invalid_token", "invalid_token"
    description = "The access token is invalid"


class TokenExpiredError(InvalidTokenError):
    """The token's ``exp`` (plus leeway) has passed."""

    code = "token_expired"
    description = "The access token expired"


class InvalidClaimsError(InvalidTokenError):
    """Wrong ``iss``/``aud``, missing or malformed registered claims."""

    code = "invalid_claims"
    description = "The access token claims are invalid"


class InsufficientScopeError(AuthError):
    """A valid token that lacks the scope the endpoint needs (RFC 6750 §3.1)."""

    status, code, bearer_error = 403, "insufficient_scope", "insufficient_scope"
    description = "The access token does not grant the scope this request needs"

    def __init__(self, scope: str, reason: str = "") -> None:
        """``scope``: the space-separated scopes the endpoint needs (the challenge's ``scope``)."""
        super().__init__(reason or "missing scope")
        self.scope = scope


class RetryLaterError(AuthError):
    """A request that cannot be checked right now: a 503 with ``Retry-After`` and no
    challenge (RFC 9110 §10.2.3), whatever the token. Its subclasses name what is down."""

    status, bearer_error = 503, None
    #: the log reason when the raiser gives none
    default_reason = "unavailable"

    def __init__(self, retry_after: float, reason: str = "") -> None:
        """``retry_after``: seconds until a retry may succeed; sent rounded up, at least 1."""
        super().__init__(reason or self.default_reason)
        self.retry_after = max(1, math.ceil(retry_after))


class JwksUnavailableError(RetryLaterError):
    """No usable signing key: the issuer's JWKS cannot be fetched (503, ``Retry-After``)."""

    code, default_reason = "jwks_unavailable", "no usable JWKS"
    description = "The token signing keys are temporarily unavailable; retry later"


# -- DPoP (RFC 9449, SPEC §3a) ---------------------------------------------------------------
# Only a DPoP request can cause these, so their ``error`` goes on the DPoP challenge
# (RFC 9449 §7.1). Each class carries what its answer needs (``DPoP-Nonce``, ``Retry-After``).


class InvalidDPoPProofError(AuthError):
    """A missing, malformed or refused DPoP proof, or a replayed one (RFC 9449 §4.3)."""

    status, code, bearer_error = 401, "invalid_dpop_proof", "invalid_dpop_proof"
    description = "The DPoP proof is invalid"


class ReplayedDPoPProofError(InvalidDPoPProofError):
    """A proof whose (``jkt``, ``jti``) was already accepted (RFC 9449 §11.1).

    Same status, code and description as any invalid proof; its own class so metrics can
    count refused replays (SPEC §6).
    """


class UseDPoPNonceError(AuthError):
    """Nonces are on and the proof has no current server nonce (RFC 9449 §9).

    ``nonce`` is the fresh value for the ``DPoP-Nonce`` response header.
    """

    status, code, bearer_error = 401, "use_dpop_nonce", "use_dpop_nonce"
    description = "Resend the request with a DPoP proof carrying the nonce in DPoP-Nonce"

    def __init__(self, nonce: str, reason: str = "") -> None:
        """``nonce``: the current server nonce (RFC 9449 §9); ``reason``: for the log only."""
        super().__init__(reason or "no current nonce")
        self.nonce = nonce


class DPoPReplayUnavailableError(RetryLaterError):
    """The ``jti`` replay store cannot be reached (503, ``Retry-After``, no challenge).

    A proof is never accepted unchecked (SPEC §3a step 5).
    """

    code, default_reason = "dpop_replay_unavailable", "replay store unreachable"
    description = "DPoP proofs cannot be checked for replay right now; retry later"
