"""A loopback issuer for the benches: one key set, fetch counts per app, bench tokens.

Every server under test trusts ``http://127.0.0.1:<port>/`` (plain http is allowed for
loopback issuers) and fetches the same JWKS, each from its own path
(``/<app>/jwks.json``), so the count of fetches is known per app, not guessed. The
standard paths are served too: ``/.well-known/jwks.json`` and the OpenID discovery
document ``/.well-known/openid-configuration`` that express-oauth2-jwt-bearer reads when
it is given ``issuerBaseURL``, as Auth0 documents it.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

AUDIENCE = "https://cashman.bench/api"
READ = "read:transactions"
WRITE = "write:transactions"
JWKS_PATH = "/.well-known/jwks.json"
DISCOVERY_PATH = "/.well-known/openid-configuration"
TOKEN_LIFETIME_S = 4 * 3600  # outlives the longest run: an expired token would be a 401


class JWKSServer:
    """Serves one JWKS on 127.0.0.1 from a thread and counts fetches per path.

    ``fetches`` is the total; ``fetches_by_path`` the same per path, so
    ``jwks_url_for("cashman-granian")`` gives an app a URL whose fetches are its own.
    """

    def __init__(self, jwks: Mapping[str, object]) -> None:
        self.body = json.dumps(jwks).encode()
        self.fetches_by_path: Counter[str] = Counter()
        self._lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = owner.document(self.path)
                if body is None:
                    self.send_error(404)
                    return
                with owner._lock:
                    owner.fetches_by_path[self.path] += 1
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass  # a line per fetch would only add noise to the bench output

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self.issuer = f"http://127.0.0.1:{self.port}/"
        self._discovery = json.dumps(
            {
                "issuer": self.issuer,
                "jwks_uri": self.issuer + JWKS_PATH.lstrip("/"),
                "id_token_signing_alg_values_supported": ["RS256"],
            }
        ).encode()
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def document(self, path: str) -> bytes | None:
        """The body served at ``path``, or None (404)."""
        if path == DISCOVERY_PATH:
            return self._discovery
        if path == JWKS_PATH or (path.endswith("/jwks.json") and path.count("/") == 2):
            return self.body
        return None

    def jwks_url_for(self, app: str) -> str:
        """A JWKS URL whose fetches are counted for ``app`` alone."""
        return f"{self.issuer}{app}/jwks.json"

    def fetches_of(self, app: str) -> int:
        """Fetches made through ``jwks_url_for(app)``."""
        with self._lock:
            return self.fetches_by_path[f"/{app}/jwks.json"]

    @property
    def fetches(self) -> int:
        """Every fetch of a key set (discovery documents not included)."""
        with self._lock:
            return sum(n for p, n in self.fetches_by_path.items() if p != DISCOVERY_PATH)

    def __enter__(self) -> JWKSServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


def make_kit(issuer: str, key: object = None):  # -> auth.testing.AuthKit
    """An AuthKit whose tokens name ``issuer`` and the bench audience (``key``: reuse one)."""
    from auth.testing import AuthKit, generate_rsa_key

    return AuthKit(issuer=issuer, audience=AUDIENCE, key=key or generate_rsa_key())


def mint(kit, sub: str, scopes: Sequence[str], jti: str = "") -> str:
    """One bench token (RS256, 2048-bit key), valid for the whole run."""
    claims = {"jti": jti} if jti else None
    return kit.mint(sub=sub, scopes=scopes, claims=claims, expires_in=TOKEN_LIFETIME_S)


def mint_distinct(kit, n: int, scopes: Sequence[str], sub: str = "bench|distinct") -> list[str]:
    """``n`` tokens that differ in ``jti`` (same user): each is a cold verification."""
    return [mint(kit, sub, scopes, jti=f"bench-{i}") for i in range(n)]


def write_tokens(path, tokens: Sequence[str]):
    """One token a line: the file ``wrk/requests.lua`` rotates through. Returns ``path``."""
    path.write_text("".join(t + "\n" for t in tokens), encoding="ascii")
    return path
