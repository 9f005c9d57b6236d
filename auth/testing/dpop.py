"""The test kit's DPoP client (RFC 9449): client keys, bound tokens and proofs, broken on
demand. The thumbprint and ``ath`` are computed from the RFCs' definitions rather than
imported from the verifier, so a kit-made proof is an independent check of it."""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from auth.testing.keys import (
    EDWARDS_ALGORITHMS,
    OMIT,
    b64url,
    check_key_fits,
    generate_ec_key,
    generate_edwards_key,
    generate_rsa_key,
    jwk_thumbprint,
    merge,
    private_jwk,
    public_jwk,
    segment,
    sign,
)

if TYPE_CHECKING:
    from auth.testing.tokens import AuthKit


def access_token_hash(access_token: str) -> str:
    """RFC 9449 §4.2 ``ath``: base64url(SHA-256(ASCII(access_token)))."""
    return b64url(hashlib.sha256(access_token.encode("ascii")).digest())


def dpop_headers(access_token: str, proof: str) -> dict[str, str]:
    """``Authorization: DPoP <token>`` and ``DPoP: <proof>`` (RFC 9449 §7.1)."""
    return {"Authorization": f"DPoP {access_token}", "DPoP": proof}


class DPoPKey:
    """A client's DPoP key pair (ES256 by default) that binds tokens and signs proofs::

    client = DPoPKey()
    token = client.mint_bound(kit, scopes=["read:transactions"])  # cnf.jkt = client.jkt
    proof = client.proof("GET", "https://api.example.com/incomes", token)
    headers = dpop_headers(token, proof)

    client.proof("GET", url, token, claims={"htm": "POST"})      # any claim changed...
    client.proof("GET", url, token, claims={"ath": OMIT})        # ...or dropped
    client.proof("GET", url, token, headers={"typ": "JWT"})      # any header member
    client.proof("GET", url, token, key=DPoPKey().private_key)   # signed by another key
    client.proof("GET", url, token, embed_private=True)          # jwk with "d"
    client.proof("GET", url, token, corrupt_signature=True)      # one bit flipped
    """

    def __init__(self, alg: str = "ES256", key: Any = None) -> None:
        """``alg``: ES256/384/512 (a fresh EC key), RS*/PS* 256/384/512 (a fresh RSA-2048
        key), or ``EdDSA``/``Ed25519``/``Ed448`` (a fresh key of that curve, Ed25519 for
        ``EdDSA``; RFC 8037, RFC 9864); ``key``: a private
        key of one's own instead. ``ValueError`` for another ``alg``, or a ``key`` that
        cannot sign it (RSA for ES*, another curve)."""
        edwards = alg in EDWARDS_ALGORITHMS
        sha2 = alg[:2] in ("ES", "RS", "PS") and alg[2:] in ("256", "384", "512")
        if not (edwards or sha2):
            raise ValueError(
                f"a DPoP key signs with ES*, RS* or PS* (256/384/512), EdDSA, Ed25519 or Ed448, "
                f"not {alg!r}"
            )
        self.alg = alg
        if key is None and edwards:
            key = generate_edwards_key(alg)
        elif key is None:
            key = generate_ec_key(alg) if alg.startswith("ES") else generate_rsa_key()
        check_key_fits(alg, key)
        self.private_key = key

    def jwk(self) -> dict[str, Any]:
        """The public JWK a proof carries: only the members RFC 7638 needs, no ``kid``."""
        return public_jwk(self.private_key, OMIT, use=OMIT)

    @property
    def jkt(self) -> str:
        """This key's RFC 7638 thumbprint: the ``cnf.jkt`` of the tokens bound to it."""
        return jwk_thumbprint(self.jwk())

    def mint_bound(
        self, kit: AuthKit, claims: Mapping[str, Any] | None = None, **mint_args: Any
    ) -> str:
        """An access token from ``kit`` bound to this key (``cnf: {"jkt": ...}``)."""
        return kit.mint(claims={"cnf": {"jkt": self.jkt}, **(claims or {})}, **mint_args)

    def proof(
        self,
        method: str,
        url: str,
        access_token: str | None = None,
        *,
        jti: str | None = None,
        nonce: str | None = None,
        claims: Mapping[str, Any] | None = None,
        headers: Mapping[str, Any] | None = None,
        now: float | None = None,
        key: Any = None,
        alg: str | None = None,
        embed_private: bool = False,
        corrupt_signature: bool = False,
    ) -> str:
        """A DPoP proof JWT for ``method`` and ``url`` (and ``ath`` of ``access_token``).

        ``claims``/``headers`` override or (with ``OMIT``) drop members; ``key`` signs
        instead of this key (the header still carries this key's ``jwk``); ``alg`` signs
        with another algorithm than the header names; ``now`` sets ``iat`` (a NumericDate,
        seconds); ``jti`` defaults to a fresh random one.
        """
        now = time.time() if now is None else now
        payload: dict[str, Any] = {
            "jti": jti or uuid.uuid4().hex,
            "htm": method,
            "htu": url,
            "iat": int(now),
        }
        if access_token is not None:
            payload["ath"] = access_token_hash(access_token)
        if nonce is not None:
            payload["nonce"] = nonce
        jwk = private_jwk(self.private_key) if embed_private else self.jwk()
        header = {"typ": "dpop+jwt", "alg": self.alg, "jwk": jwk}
        signing_input = f"{segment(merge(header, headers))}.{segment(merge(payload, claims))}"
        signature = sign(signing_input.encode("ascii"), alg or self.alg, key or self.private_key)
        if corrupt_signature:
            signature = signature[:-1] + bytes([signature[-1] ^ 1])
        return f"{signing_input}.{b64url(signature)}"
