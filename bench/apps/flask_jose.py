"""The bare baseline: a Flask + python-jose API in the shape of Auth0's Flask quickstart.

Why it exists: "what does Cashman add over the smallest Flask app that validates Auth0
tokens?" needs that app, served by the same servers with the same settings. This is the
quickstart's ``requires_auth`` (split the ``Authorization`` header, read the unverified
JOSE header, pick the JWK by ``kid``, ``jose.jwt.decode`` with RS256, audience and
issuer), with one change the quickstart's own comments ask for: the JWKS is fetched once
per process and cached, not on every request. It has no request log, no CORS, no
request ids: it is the floor, not a rival.

Settings come from the same variables as Cashman's: ``AUTH0_ISSUER``, ``API_AUDIENCE``,
``AUTH0_JWKS_URL`` (default ``<issuer>.well-known/jwks.json``).
"""

from __future__ import annotations

import os
import threading
from functools import wraps
from typing import Any

import requests
from flask import Flask, g, jsonify, request
from jose import jwt

ALGORITHMS = ["RS256"]
ISSUER = os.environ["AUTH0_ISSUER"]
API_AUDIENCE = os.environ["API_AUDIENCE"]
JWKS_URL = os.environ.get("AUTH0_JWKS_URL") or f"{ISSUER}.well-known/jwks.json"

app = Flask(__name__)
_jwks: dict[str, Any] = {}
_jwks_lock = threading.Lock()


class AuthError(Exception):
    """An authentication failure: the quickstart's error dict and status."""

    def __init__(self, error: dict[str, str], status_code: int) -> None:
        super().__init__(error["code"])
        self.error = error
        self.status_code = status_code


@app.errorhandler(AuthError)
def handle_auth_error(ex: AuthError):
    """The quickstart's JSON error answer."""
    response = jsonify(ex.error)
    response.status_code = ex.status_code
    return response


def get_jwks() -> dict[str, Any]:
    """The issuer's key set, fetched once per process (threads wait for the one fetch)."""
    if not _jwks:
        with _jwks_lock:
            if not _jwks:
                _jwks.update(requests.get(JWKS_URL, timeout=5).json())
    return _jwks


def get_token_auth_header() -> str:
    """The token of ``Authorization: Bearer <token>``, as the quickstart parses it."""
    auth = request.headers.get("Authorization", None)
    if not auth:
        raise AuthError({"code": "authorization_header_missing", "description": ""}, 401)
    parts = auth.split()
    if parts[0].lower() != "bearer" or len(parts) != 2:
        raise AuthError({"code": "invalid_header", "description": ""}, 401)
    return parts[1]


def requires_auth(f):
    """Verify the access token (RS256, audience, issuer) before calling ``f``."""

    @wraps(f)
    def decorated(*args, **kwargs):
        token = get_token_auth_header()
        try:
            unverified_header = jwt.get_unverified_header(token)
        except jwt.JWTError:
            raise AuthError({"code": "invalid_header", "description": ""}, 401) from None
        rsa_key = {}
        for key in get_jwks()["keys"]:
            if key["kid"] == unverified_header.get("kid"):
                rsa_key = {k: key[k] for k in ("kty", "kid", "use", "n", "e") if k in key}
        if not rsa_key:
            raise AuthError({"code": "invalid_header", "description": ""}, 401)
        try:
            payload = jwt.decode(
                token, rsa_key, algorithms=ALGORITHMS, audience=API_AUDIENCE, issuer=ISSUER
            )
        except jwt.ExpiredSignatureError:
            raise AuthError({"code": "token_expired", "description": ""}, 401) from None
        except jwt.JWTClaimsError:
            raise AuthError({"code": "invalid_claims", "description": ""}, 401) from None
        except jwt.JWTError:
            raise AuthError({"code": "invalid_header", "description": ""}, 401) from None
        g.current_user = payload
        return f(*args, **kwargs)

    return decorated


@app.route("/ping")
def ping():
    """No token needed."""
    return jsonify(message="All good. You don't need to be authenticated to call this")


@app.route("/secured/ping")
@requires_auth
def secured_ping():
    """A valid access token needed."""
    return jsonify(message="All good. You only get this message if you're authenticated")
