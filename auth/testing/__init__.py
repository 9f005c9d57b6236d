"""Test kit for pytest suites of APIs using ``auth`` (SPEC §7): no network, no tenant.

An ``AuthKit`` is a fake issuer: an in-memory RSA-2048 key, its JWKS served
through ``responses``, and tokens minted with any claims, header or expiry,
including broken ones::

    import responses
    from auth.testing import AuthKit, OMIT
    from myapi import create_app  # your API's factory, from settings in an environment

    kit = AuthKit()  # issuer https://cashman-test.example.com/, audience https://api.cashman.test

    def test_list_needs_read_scope():
        with responses.RequestsMock() as rsps:
            kit.publish(rsps)                           # GET <issuer>.well-known/jwks.json
            client = create_app(kit.env()).test_client()  # AUTH0_ISSUER + API_AUDIENCE
            token = kit.mint(scopes=["write:transactions"])
            resp = client.get("/incomes", headers={"Authorization": f"Bearer {token}"})
            assert resp.status_code == 403

    kit.mint(claims={"exp": OMIT})                  # drop a default claim
    kit.mint(headers={"typ": "at+jwt"}, expires_in=-60)
    kit.rotate()                                    # new signing key, published next fetch

Key rotation: the API sees the kit's new key when it next fetches the JWKS.
An unknown ``kid`` triggers that fetch, but at most once every
``JWKS_MIN_REFRESH_INTERVAL`` seconds (30 by default, counted from the app's
first fetch), so a test that rotates after the app has verified a token
builds the app with the interval at 0 (the app logs a warning that this is
for tests only)::

    env = kit.env(JWKS_MIN_REFRESH_INTERVAL="0")   # or kit.settings(jwks_min_refresh_interval=0)

Or enable the fixtures ``auth_kit`` and ``auth_jwks`` with
``pytest_plugins = ["auth.pytest_plugin"]``.

A server in another process (a live API under test) cannot see ``responses``:
``JWKSServer(kit.jwks)`` serves the key set over real HTTP on loopback, and
``kit.env(AUTH0_JWKS_URL=server.url)`` points the API at it (``auth.jwks_server``).

The kit by job: ``keys`` (key material, JWKs, RFC 7638 thumbprints, JWS signing),
``jwks`` (the published key set and its rotation), ``tokens`` (``AuthKit``: settings and
access tokens), ``dpop`` (``DPoPKey``: bound tokens and proofs, RFC 9449). Import from
``auth.testing``: the modules are its layout, not its interface.
"""

from auth.jwks_server import Answer, JWKSServer
from auth.testing.dpop import DPoPKey, access_token_hash, dpop_headers
from auth.testing.jwks import IssuerKeys, KitKey
from auth.testing.keys import (
    DPOP_PRIVATE_MEMBERS,
    OMIT,
    b64url,
    generate_ec_key,
    generate_edwards_key,
    generate_rsa_key,
    jwk_thumbprint,
    private_jwk,
    public_jwk,
    shared_rsa_key,
    sign,
)
from auth.testing.tokens import DEFAULT_AUDIENCE, DEFAULT_CLIENT_ID, DEFAULT_ISSUER, AuthKit

__all__ = [
    "DEFAULT_AUDIENCE",
    "DEFAULT_CLIENT_ID",
    "DEFAULT_ISSUER",
    "DPOP_PRIVATE_MEMBERS",
    "OMIT",
    "Answer",
    "AuthKit",
    "DPoPKey",
    "IssuerKeys",
    "JWKSServer",
    "KitKey",
    "access_token_hash",
    "b64url",
    "dpop_headers",
    "generate_ec_key",
    "generate_edwards_key",
    "generate_rsa_key",
    "jwk_thumbprint",
    "private_jwk",
    "public_jwk",
    "shared_rsa_key",
    "sign",
]
