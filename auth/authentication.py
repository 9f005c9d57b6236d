"""One request's credentials through SPEC §3 and §3a, in their order, for the three modes.

``Authenticator.authenticate`` reads like the SPEC's lists:

1. the ``Authorization`` header: an accepted scheme (``Bearer`` and ``DPoP`` in
   ``allowed`` mode, ``DPoP`` only in ``required``, ``Bearer`` only in ``off``) and one
   token (``auth.bearer``); under DPoP also exactly one ``DPoP`` proof header
   (``auth.dpop.single_proof``), before any work on the token;
2. the access token through every check of §3 (``auth.verify``; the verified-token
   cache still serves a repeat), with ``cnf`` refused under Bearer and ``cnf.jkt``
   required under DPoP;
3. to 6. the proof, the binding, the replay record and the nonce (``auth.dpop``).

Every ``AuthError`` leaves with the scheme the client used (``err.scheme``), which
decides the challenge its ``error`` goes on (``auth.challenges``). Nothing here knows
Flask: the caller hands over the header values, the method and the request's URI.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from auth.bearer import BEARER, DPOP, parse_authorization
from auth.dpop import DPoPVerifier, single_proof
from auth.errors import AuthError, AuthorizationHeaderMissingError, ReplayedDPoPProofError
from auth.events import NO_OBSERVER, AuthObserver
from auth.replay import ReplayStore
from auth.settings import AuthSettings
from auth.verify import TokenVerifier


class Authenticated(NamedTuple):
    """A request's verified credentials: the token's claims, the scheme, the proof's key.

    ``jkt`` is the RFC 7638 thumbprint of the DPoP proof's key (the token's ``cnf.jkt``),
    None under Bearer.
    """

    claims: dict[str, Any]
    scheme: str
    jkt: str | None


class Authenticator:
    """Authenticates requests for ``settings`` (its ``dpop`` mode decides the schemes)."""

    def __init__(
        self,
        settings: AuthSettings,
        verifier: TokenVerifier,
        replay_store: ReplayStore | None = None,
        *,
        observer: AuthObserver = NO_OBSERVER,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``verifier`` checks access tokens; ``replay_store`` remembers accepted proofs and
        is required unless ``settings.dpop`` is off (``ValueError`` otherwise): a store every
        worker and instance shares, ``auth.replay.MemoryReplayStore`` for one process
        only. ``observer`` hears of refused replays; ``clock`` gives Unix seconds.
        """
        self.settings = settings
        self.verifier = verifier
        self.observer = observer
        self.schemes = settings.dpop.schemes
        self.dpop: DPoPVerifier | None = None
        if settings.dpop.is_enabled:
            if replay_store is None:
                raise ValueError(
                    "DPoP is on: pass replay_store (shared by every worker and instance; "
                    "MemoryReplayStore only for a single process)"
                )
            self.dpop = DPoPVerifier(
                settings.dpop, replay_store, leeway=settings.auth_leeway, clock=clock
            )

    def authenticate(
        self,
        authorization: Sequence[str],
        proofs: Callable[[], Sequence[str]],
        method: str,
        htu: Callable[[], str],
    ) -> Authenticated:
        """Verify the request's credentials; raise the ``AuthError`` of the first failed step.

        ``authorization``: every ``Authorization`` field value; ``proofs()``: every
        ``DPoP`` field value (read only under the DPoP scheme: a Bearer request's ``DPoP``
        header is ignored); ``method``: the request method; ``htu()``: the request's URI
        (``auth.htu.request_htu``), built only for a DPoP request.
        """
        scheme, token = parse_authorization(authorization, self.schemes)
        if scheme == BEARER:
            try:
                return Authenticated(self.verifier.verify(token), BEARER, None)
            except AuthError as err:
                err.scheme = BEARER
                raise
        try:
            return self._authenticate_dpop(token, proofs(), method, htu)
        except ReplayedDPoPProofError as err:
            self.observer.dpop_replay_refused()
            err.scheme = DPOP
            raise
        except AuthError as err:
            err.scheme = DPOP
            raise

    def _authenticate_dpop(
        self, token: str, proofs: Sequence[str], method: str, htu: Callable[[], str]
    ) -> Authenticated:
        if self.dpop is None:  # unreachable: DPoP is an accepted scheme only when it is on
            raise AuthorizationHeaderMissingError("DPoP is off")
        compact = single_proof(proofs)  # step 1: exactly one proof, before any work on the token
        claims = self.verifier.verify(token, bound=True)  # step 2
        proof = self.dpop.verify_compact(  # steps 3-6; the jti is recorded last
            compact, method=method, htu=htu(), access_token=token, token_claims=claims
        )
        return Authenticated(claims, DPOP, proof.jkt)

    def current_nonce(self) -> str | None:
        """The nonce for ``DPoP-Nonce`` on responses to DPoP requests; None when nonces are off."""
        if self.dpop is None or self.dpop.nonces is None:
            return None
        return self.dpop.nonces.current()
