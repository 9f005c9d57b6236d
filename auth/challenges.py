"""The answer to an ``AuthError``: status, JSON body and ``WWW-Authenticate`` challenges.

RFC 6750 §3 (Bearer), RFC 9449 §7.1 (DPoP), RFC 9728 §5.1 (``resource_metadata``), as
SPEC §3's error table and §3a step 7 write them:

- a 401 carries the challenge of every scheme the mode accepts, in one header:
  ``Bearer realm="cashman"`` and ``DPoP algs="ES256"`` in ``allowed`` mode, only the DPoP
  one in ``required`` mode, only the Bearer one in ``off`` mode. The ``error`` and
  ``error_description`` go on the challenge of the scheme the client used; none when it
  sent no credentials or a scheme the API does not accept. With ``API_BASE_URL`` every
  challenge of a 401 also names the protected resource metadata (``resource_metadata``);
- a 400 (``invalid_request``) and a 403 (``insufficient_scope``) carry one challenge,
  of the scheme the client used: the answer is about that request's credentials;
- a 503 carries no challenge (the credentials may be fine), and ``Retry-After``.

Every parameter value is a quoted-string, tokens included, as the SPEC's table writes
them, quoted by werkzeug (``quote_header_value``).
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Response, jsonify
from werkzeug.http import quote_header_value

from auth.bearer import BEARER, DPOP
from auth.errors import (
    AuthError,
    InsufficientScopeError,
    RetryLaterError,
    UseDPoPNonceError,
)


@dataclass(frozen=True)
class Challenges:
    """How this API challenges a client, built once from the settings.

    ``realm``: the Bearer challenge's realm; ``schemes``: the schemes offered, in the
    order their challenges are written (``DPoPSettings.schemes``); ``dpop_algorithms``:
    the DPoP challenge's ``algs``; ``resource_metadata``: the RFC 9728 metadata URL, or
    None.
    """

    realm: str = "cashman"
    schemes: tuple[str, ...] = (BEARER,)
    dpop_algorithms: tuple[str, ...] = ("ES256",)
    resource_metadata: str | None = None

    def header(self, err: AuthError) -> str | None:
        """The ``WWW-Authenticate`` value for ``err``, or None (a 503)."""
        if isinstance(err, RetryLaterError):
            return None
        offered = self.schemes
        used = err.scheme if err.scheme in offered else None
        if err.bearer_error is not None and used is None:
            used = offered[0]  # e.g. two Authorization headers: no one scheme was used
        if err.status != 401:
            return self._challenge(used or offered[0], err, with_metadata=False)
        return ", ".join(
            self._challenge(scheme, err if scheme == used else None, with_metadata=True)
            for scheme in offered
        )

    def _challenge(self, scheme: str, err: AuthError | None, *, with_metadata: bool) -> str:
        params: list[tuple[str, str]] = []
        if scheme == BEARER:
            params.append(("realm", self.realm))
        if err is not None and err.bearer_error is not None:
            params.append(("error", err.bearer_error))
            if isinstance(err, InsufficientScopeError):
                params.append(("scope", err.scope))
            else:
                params.append(("error_description", err.description))
        if scheme == DPOP:
            params.append(("algs", " ".join(self.dpop_algorithms)))
        if with_metadata and self.resource_metadata is not None:
            params.append(("resource_metadata", self.resource_metadata))
        quoted = ", ".join(
            f"{name}={quote_header_value(value, allow_token=False)}" for name, value in params
        )
        return f"{scheme} {quoted}"

    def render(self, err: AuthError) -> Response:
        """The response for ``err`` (SPEC §3 error table): its status, a JSON body
        ``{"code", "description"}``, ``Cache-Control: no-store``, the challenges, a fresh
        ``DPoP-Nonce`` for ``use_dpop_nonce`` and, for a 503, ``Retry-After`` in whole
        seconds."""
        response = jsonify(code=err.code, description=err.description)
        response.status_code = err.status
        response.headers["Cache-Control"] = "no-store"
        challenge = self.header(err)
        if challenge is not None:
            response.headers["WWW-Authenticate"] = challenge
        if isinstance(err, RetryLaterError):
            response.headers["Retry-After"] = str(err.retry_after)
        if isinstance(err, UseDPoPNonceError):
            response.headers["DPoP-Nonce"] = err.nonce
        return response


def render_auth_error(err: AuthError, challenges: Challenges | str = "cashman") -> Response:
    """``challenges.render(err)``; a realm string means Bearer only (``AUTH_DPOP=off``)."""
    if isinstance(challenges, str):
        challenges = Challenges(realm=challenges)
    return challenges.render(err)
