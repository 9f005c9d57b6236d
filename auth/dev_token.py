"""The development issuer's token endpoint: Auth0's ``/oauth/token`` with a DPoP header, at home.

A browser app (``examples/spa/``) gets its DPoP-bound token the way Auth0's SPA SDK
does: it POSTs to the issuer's token endpoint with a ``DPoP`` proof (RFC 9449 §5) made
by its own key, and receives a token whose ``cnf.jkt`` is that key's thumbprint (§6).
Without a proof it receives a Bearer token. The development issuer's loopback server
(``DevIssuerServer``, which also serves its JWKS) answers::

    POST /oauth/token      DPoP: <proof, htm POST, htu this URL>
    sub=alice&scope=read:transactions            (form or JSON; both optional)
    -> 200 {"access_token": ..., "token_type": "DPoP", "expires_in": 3600, "scope": ...}

As with ``python -m auth.dev_issuer``, an absent ``scope`` means the default scopes and
an empty one none; a ``sub`` the API would refuse (empty, over 255 characters, a control
character) is a 400 ``invalid_request``. A refused proof is a 400 ``invalid_dpop_proof``
(RFC 9449 §5). There is no client
authentication and no login: anyone on this machine may ask, exactly as anyone on it can
read the development key. It exists only in ``python server.py`` with the development
issuer, bound to loopback; no production entry can start it. Browsers reach it across
origins from ``CORS_ORIGINS`` only.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qs

from auth.claims import check_sub
from auth.dev_issuer import DEFAULT_SCOPES, DEFAULT_SUB, DevIssuer, require_loopback
from auth.dpop import DPoPVerifier
from auth.dpop_settings import DPoPSettings
from auth.errors import AuthError, InvalidClaimsError
from auth.jwks_server import JWKSHandler, JWKSServer
from auth.loopback import names_loopback
from auth.replay import MemoryReplayStore

ENDPOINT_PATH = "/oauth/token"
MAX_BODY_BYTES = 4096
PROOF_ALGORITHMS = ("ES256", "ES384", "ES512", "RS256", "PS256")


class DevIssuerServer(JWKSServer):
    """The development issuer on loopback: its JWKS, and ``POST /oauth/token``."""

    def __init__(
        self,
        issuer: DevIssuer,
        *,
        audience: str,
        host: str = "127.0.0.1",
        port: int = 0,
        cors_origins: Iterable[str] = (),
        expires_in: int = 3600,
    ) -> None:
        """Serve ``issuer``'s JWKS and token endpoint on ``host:port`` (loopback only:
        ``DevIssuerError`` otherwise); tokens carry ``audience`` and live ``expires_in``
        seconds; ``cors_origins``: browser origins allowed to call the endpoint."""
        require_loopback(host)
        super().__init__(issuer.jwks(), host=host, port=port, handler=TokenHandler)
        self.dev_issuer = issuer
        self.audience = audience
        self.expires_in = expires_in
        self.cors_origins = frozenset(origin.lower() for origin in cors_origins)
        settings = DPoPSettings(api_base_url=self.token_url, auth_dpop_algorithms=PROOF_ALGORITHMS)
        self.proofs = DPoPVerifier(settings, MemoryReplayStore())

    @property
    def token_url(self) -> str:
        """The token endpoint's URL: the ``htu`` its proofs carry."""
        return self.issuer.rstrip("/") + ENDPOINT_PATH

    def token_response(self, fields: Mapping[str, str], proofs: list[str]) -> tuple[int, dict]:
        """(status, JSON body) for a token request with form ``fields`` and ``DPoP`` values."""
        sub = fields.get("sub", DEFAULT_SUB)
        try:
            check_sub({"sub": sub})  # the API's own rule: never mint a token it refuses
        except InvalidClaimsError:
            return 400, {
                "error": "invalid_request",
                "error_description": "sub must be 1-255 characters without control characters",
            }
        scope = fields.get("scope")
        scopes = DEFAULT_SCOPES if scope is None else tuple(scope.split())
        jkt = None
        if proofs:
            try:
                jkt = self.proofs.verify_token_request(
                    proofs, method="POST", htu=self.token_url
                ).jkt
            except AuthError:
                return 400, {
                    "error": "invalid_dpop_proof",
                    "error_description": "The DPoP proof is invalid",
                }
        token = self.dev_issuer.mint(sub, scopes, self.expires_in, self.audience, jkt=jkt)
        return 200, {
            "access_token": token,
            "token_type": "DPoP" if jkt else "Bearer",
            "expires_in": self.expires_in,
            "scope": " ".join(scopes),
        }


class TokenHandler(JWKSHandler):
    """The JWKS handler, plus ``POST /oauth/token`` and its CORS preflight."""

    server: DevIssuerServer

    def do_OPTIONS(self) -> None:
        """CORS preflight of the token request (it carries a ``DPoP`` header)."""
        if self._refused_host():
            return
        self._send(204, None, preflight=True)

    def do_GET(self) -> None:
        """The key set and discovery as ``JWKSHandler`` serves them; on the token endpoint a
        405 naming the methods it takes (RFC 9110 §15.5.6), not a 404."""
        if self.path.split("?", 1)[0] != ENDPOINT_PATH:
            super().do_GET()
        elif not self._refused_host():
            body = {"error": "invalid_request", "error_description": "use POST"}
            self._send(405, body, headers={"Allow": "POST, OPTIONS"})

    def do_POST(self) -> None:
        """A token, bound to the proof's key when there is a proof."""
        if self._refused_host():
            return
        if self.path.split("?", 1)[0] != ENDPOINT_PATH:
            self._send(404, {"error": "not_found"})
            return
        fields = self._fields()
        if fields is None:
            self._send(400, {"error": "invalid_request", "error_description": "bad body"})
            return
        status, body = self.server.token_response(fields, self.headers.get_all("DPoP") or [])
        self._send(status, body)

    def _refused_host(self) -> bool:
        """True, once answered, unless the request names a loopback host in its one
        ``Host`` (HTTP/1.0 may send none): 421 for another name, since a page on a name
        rebound to 127.0.0.1 would otherwise mint tokens as its same origin; 400 for two
        ``Host`` fields, or none in HTTP/1.1 (RFC 9112 §3.2)."""
        hosts = self.headers.get_all("Host") or []
        if len(hosts) > 1 or (not hosts and self.request_version == "HTTP/1.1"):
            description = "an HTTP/1.1 request needs exactly one Host header"
            self._send(400, {"error": "invalid_request", "error_description": description})
            return True
        if all(names_loopback(host) for host in hosts):
            return False
        description = "the token endpoint answers only localhost, 127.0.0.1 or [::1] in Host"
        self._send(421, {"error": "invalid_request", "error_description": description})
        return True

    def _fields(self) -> dict[str, str] | None:
        """The body's ``sub`` and ``scope`` (form or JSON); None when unreadable."""
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            return None
        if not 0 <= length <= MAX_BODY_BYTES:
            return None
        try:  # a sub or scope that is not UTF-8 is refused, not turned into U+FFFD
            raw = self.rfile.read(length).decode("utf-8")
        except UnicodeDecodeError:
            return None
        if not raw.strip():
            return {}
        if "json" in (self.headers.get("Content-Type") or ""):
            try:
                data: Any = json.loads(raw)
            except ValueError:
                return None
            if not isinstance(data, dict):
                return None
            return {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, str)}
        # keep "scope=" (no scopes): dropping it would mean the default scopes
        fields = parse_qs(raw, keep_blank_values=True)
        if any(len(values) > 1 for values in fields.values()):
            return None  # "sub=a&sub=b": which one was meant is not ours to guess
        return {name: values[0] for name, values in fields.items()}

    def _send(
        self,
        status: int,
        body: dict | None,
        *,
        preflight: bool = False,
        headers: dict[str, str] | None = None,
    ) -> None:
        payload = json.dumps(body).encode() if body is not None else b""
        self.send_response(status)
        origin = (self.headers.get("Origin") or "").lower()
        if origin and origin in self.server.cors_origins:
            self.send_header("Access-Control-Allow-Origin", origin)
            self.send_header("Vary", "Origin")
            if preflight:
                self.send_header("Access-Control-Allow-Methods", "POST")
                self.send_header("Access-Control-Allow-Headers", "Content-Type, DPoP")
                self.send_header("Access-Control-Max-Age", "600")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if body is not None:
            self.send_header("Content-Type", "application/json")
            self.send_header("Cache-Control", "no-store")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(payload)
        self.close_connection = True
