"""The Flask extension: one ``Authenticator`` per app, the ``AuthError`` handler, ``DPoP-Nonce``
(SPEC §3, §3a; RFC 9449 §8-§9)."""

from __future__ import annotations

import logging
import re

import requests
from flask import Flask, Request, Response, g, request
from werkzeug.exceptions import BadRequest

from auth.authentication import Authenticator
from auth.bearer import DPOP, names_scheme
from auth.challenges import Challenges
from auth.errors import AuthError
from auth.events import NO_OBSERVER, AuthObserver
from auth.htu import raw_request_path, request_htu
from auth.replay import ReplayStore
from auth.resource_metadata import metadata_url
from auth.settings import AuthSettings, check_jose_backend
from auth.verify import TokenVerifier

logger = logging.getLogger(__name__)

# RFC 9110 §7.2 Host = uri-host [":" port], kept to what a development client sends: a DNS
# name or IPv4 address, or an IPv6 literal in brackets. No space, comma (two Host headers
# joined), "/", "@" or empty host, which would make the request's own URL another URL.
_HOST = re.compile(
    r"(?:[A-Za-z0-9][A-Za-z0-9._-]{0,252}|\[[0-9A-Fa-f:.]{2,45}\])(?::(?P<port>[0-9]{1,5}))?"
)


class MalformedHostError(BadRequest):
    """400: the request's ``Host`` is not ``host[:port]`` and its own URL is needed
    (development server without ``API_BASE_URL``; RFC 9112 §3.2)."""

    error_code = "invalid_host"
    description = "The Host header is not a valid host[:port]."


def request_base_url(req: Request) -> str:
    """``http://host[:port]`` of ``req`` from its ``Host``; ``MalformedHostError`` (400) when
    ``Host`` is empty, holds two values or is not ``host[:port]`` with a port of 1-65535."""
    host = req.host
    match = _HOST.fullmatch(host)
    if match is None or (match["port"] is not None and not 0 < int(match["port"]) < 65536):
        raise MalformedHostError()
    return f"{req.scheme}://{host}"


class Auth:
    """``Auth(settings).init_app(app)``: owns the JWKS caches, the verified-token cache and
    the DPoP verifier."""

    def __init__(
        self,
        settings: AuthSettings,
        app: Flask | None = None,
        *,
        session: requests.Session | None = None,
        replay_store: ReplayStore | None = None,
        observer: AuthObserver = NO_OBSERVER,
    ) -> None:
        """The verifiers for ``settings`` (the JWKS caches share ``session``, a new one if None).

        ``replay_store`` remembers accepted DPoP proofs; it is required unless
        ``settings.dpop`` is off (``ValueError``): a store every worker and instance shares
        (the application's database), ``auth.replay.MemoryReplayStore`` only for a single
        process. ``observer`` hears of authentication outcomes, JWKS fetches, cache hits
        and refused replays (``auth.events``). Raises ``ConfigError`` when python-jose
        lacks its ``cryptography`` backend (SPEC §2); with ``app``, registers on it at once.
        """
        check_jose_backend()
        self.settings = settings
        self.observer = observer
        self.verifier = TokenVerifier(settings, session=session, observer=observer)
        self.authenticator = Authenticator(settings, self.verifier, replay_store, observer=observer)
        base_url = settings.dpop.api_base_url
        self.challenges = Challenges(
            realm=settings.realm,
            schemes=settings.dpop.schemes,
            dpop_algorithms=settings.dpop.auth_dpop_algorithms,
            resource_metadata=metadata_url(base_url) if base_url is not None else None,
        )
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        """Register on ``app``: ``app.extensions["auth"]``, the JSON error handler and, with
        DPoP nonces on, the ``DPoP-Nonce`` of every answer to a DPoP request."""
        app.extensions["auth"] = self
        app.register_error_handler(AuthError, self.handle_error)
        if self.authenticator.current_nonce() is not None:
            app.after_request(self.add_nonce)

    def unready_issuers(self) -> list[int]:
        """Positions (0-based, in configured order) of the issuers without a usable key set.

        An issuer is ready when it holds keys fetched at most ``JWKS_MAX_STALE`` ago, or
        gets them from one fetch made now, if ``JWKS_MIN_REFRESH_INTERVAL`` allows one
        (under the cache's lock and throttle, so probes cannot flood an issuer; bounded
        by the fetch deadline). SPEC §6 ``/readyz``. Never raises.
        """
        return [
            position
            for position, issuer in enumerate(self.settings.issuers)
            if not self.verifier.jwks[issuer].ensure_keys()
        ]

    def handle_error(self, err: AuthError) -> Response:
        """Answer an ``AuthError`` (RFC 6750 §3, RFC 9449 §7.1) and log why, never the token."""
        level = logging.WARNING if err.status >= 500 else logging.INFO
        logger.log(
            level, "auth refused %s %s: %s (%s)", request.method, request.path, err.code, err.reason
        )
        return self.challenges.render(err)

    def add_nonce(self, response: Response) -> Response:
        """RFC 9449 §8.2: every answer to a DPoP request carries the current nonce (SPEC §3a
        step 6), whichever route answered: a protected one, an open one, a 404 or a 405."""
        if is_dpop_request(request):
            nonce = self.authenticator.current_nonce()
            if nonce is not None:
                response.headers["DPoP-Nonce"] = nonce
        return response

    def base_url(self, req: Request) -> str | None:
        """``API_BASE_URL``; in development without it, the request's own URL (a malformed
        ``Host`` is ``MalformedHostError``, 400); else None."""
        dpop = self.settings.dpop
        if dpop.api_base_url is not None:
            return dpop.api_base_url
        # the Host header decides this URL: only ever the loopback development server
        return request_base_url(req) if dpop.use_request_url else None

    def request_htu(self, req: Request) -> str:
        """The URI a DPoP proof's ``htu`` must match: the base URL joined with the path as
        received, percent-encoding intact (SPEC §3a step 3)."""
        base = self.base_url(req)
        if base is None:  # unreachable: DPoP is never on without one
            raise RuntimeError("DPoP is on without API_BASE_URL")
        return request_htu(base, raw_request_path(req.environ))


def is_dpop_request(req: Request) -> bool:
    """A request made with DPoP (SPEC §3a step 6): the ``DPoP`` scheme, as the credentials
    check saw it or, where no check ran, in the one ``Authorization`` header; or a
    ``DPoP`` proof with no ``Authorization`` at all. With the Bearer scheme a ``DPoP``
    header is ignored (step 1), so that request is not one."""
    scheme = g.get("auth_scheme")
    if scheme is not None:
        return scheme == DPOP
    # one environ lookup each, as the credentials check reads them (auth.decorators),
    # rather than a walk over every header
    authorization = req.environ.get("HTTP_AUTHORIZATION")
    if authorization is not None:
        return names_scheme([authorization], DPOP)
    return "HTTP_DPOP" in req.environ
