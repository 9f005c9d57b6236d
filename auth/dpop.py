"""DPoP proof verification for one request (RFC 9449 §4.3, §7, §9, §11; SPEC §3a).

``DPoPVerifier.verify`` takes what the access-token pipeline already has (the raw
``DPoP`` header values, the method, the request's ``htu``, the access token and its
verified claims) and checks, in SPEC §3a order:

1. exactly one ``DPoP`` header holding one compact JWS of at most 8 KiB;
2. the token's ``cnf`` holds a string ``jkt`` and nothing else (``invalid_token``);
3. the proof, parsed as strictly as a token: ``typ`` ``dpop+jwt``, ``alg`` allowed,
   ``jwk`` a fitting public key (``auth.proof_key``), no ``crit``, the signature; then
   ``jti``, ``htm``, ``htu`` (``auth.htu``), ``iat`` (and ``exp``, ``nbf`` when present),
   ``ath`` and, when on, ``nonce``;
4. the binding: the ``jwk``'s RFC 7638 thumbprint is the token's ``cnf.jkt``
   (``invalid_token``);
5. replay: (``jkt``, ``jti``) is recorded in the shared store, only now that every other
   check passed, so a refused proof burns nothing.

A client signs its proofs with one key, so the header segment repeats byte for byte:
the checked header (key built, thumbprint computed) is remembered per exact segment in
a bounded LRU, and a repeat costs one signature check and the claim checks.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import re
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

from auth.claims import check_cnf_jkt, check_expiry, check_not_before, numeric_date
from auth.dpop_settings import DPoPSettings
from auth.errors import (
    DPoPReplayUnavailableError,
    InvalidDPoPProofError,
    InvalidTokenError,
    ReplayedDPoPProofError,
    UseDPoPNonceError,
)
from auth.htu import normalize_uri
from auth.jws import decode_json_segment, decode_segment
from auth.nonce import DPoPNonces
from auth.proof_key import ProofKey, proof_key
from auth.replay import ReplayStore, ReplayStoreUnavailableError

MAX_PROOF_LENGTH = 8192  # 8 KiB, as for the access token (SPEC §3a step 1)
MAX_JTI_LENGTH = 256
HEADER_MEMO_SIZE = 1024
# Same bound as the access token's time claims: 9999-12-31T23:59:59Z
MAX_NUMERIC_DATE = 253402300799
_NUMBER_TYPES = (int, float)
# One compact JWS and nothing else: no comma (two joined headers), no spaces, no padding.
_COMPACT_JWS = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
_OWS = " \t"


class DPoPProof(NamedTuple):
    """An accepted proof: the client key's thumbprint, the ``jti`` and ``iat`` it carried."""

    jkt: str
    jti: str
    iat: float


def single_proof(values: Sequence[str]) -> str:
    """SPEC §3a step 1: the one ``DPoP`` header's compact JWS, or ``InvalidDPoPProofError``.

    ``values`` are the request's ``DPoP`` field values; servers join repeated fields with
    commas (RFC 9110 §5.3), which the grammar refuses like two values.
    """
    if len(values) != 1:
        raise InvalidDPoPProofError("not exactly one DPoP header")
    proof = values[0].strip(_OWS)  # RFC 9110 §5.5: the field value excludes OWS
    if len(proof) > MAX_PROOF_LENGTH or not _COMPACT_JWS.fullmatch(proof):
        raise InvalidDPoPProofError("DPoP header is not one compact JWS of at most 8 KiB")
    return proof


def bound_jkt(claims: Mapping[str, Any]) -> str:
    """SPEC §3a step 2: the token's ``cnf.jkt``; ``InvalidTokenError`` for any other ``cnf``
    (``auth.claims.check_cnf_jkt``)."""
    return check_cnf_jkt(claims)


def access_token_hash(access_token: str) -> str:
    """RFC 9449 §4.2 ``ath``: base64url(SHA-256(ASCII(access token))), unpadded."""
    digest = hashlib.sha256(access_token.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class DPoPVerifier:
    """Verifies DPoP proofs against ``settings``, remembering accepted ones in ``replay_store``."""

    def __init__(
        self,
        settings: DPoPSettings,
        replay_store: ReplayStore,
        *,
        leeway: float = 30,
        nonces: DPoPNonces | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``leeway`` is ``AUTH_LEEWAY`` in seconds; ``clock`` gives Unix seconds.

        ``nonces`` defaults to ones derived from ``settings.auth_dpop_nonce_secret`` when
        it is set (RFC 9449 §9); with neither, proofs need no nonce.
        """
        self.settings = settings
        self.replay_store = replay_store
        self.leeway = leeway
        self.clock = clock
        if nonces is None and settings.auth_dpop_nonce_secret is not None:
            nonces = DPoPNonces(settings.auth_dpop_nonce_secret, clock=clock)
        self.nonces = nonces
        self._algorithms = frozenset(settings.auth_dpop_algorithms)
        self._checked_header = functools.lru_cache(maxsize=HEADER_MEMO_SIZE)(self._check_header)

    def verify(
        self,
        proof_values: Sequence[str],
        *,
        method: str,
        htu: str,
        access_token: str,
        token_claims: Mapping[str, Any],
    ) -> DPoPProof:
        """Check the proof for this request and record it; return what it proved.

        ``htu`` is the request's URI as ``auth.htu.request_htu`` builds it. Raises
        ``InvalidDPoPProofError`` (``ReplayedDPoPProofError`` for a replay),
        ``InvalidTokenError`` (``cnf``, binding), ``UseDPoPNonceError`` and
        ``DPoPReplayUnavailableError`` (503).
        """
        return self.verify_compact(
            single_proof(proof_values),
            method=method,
            htu=htu,
            access_token=access_token,
            token_claims=token_claims,
        )

    def verify_compact(
        self,
        proof: str,
        *,
        method: str,
        htu: str,
        access_token: str,
        token_claims: Mapping[str, Any],
    ) -> DPoPProof:
        """``verify`` of the one proof ``single_proof`` already took from the header (for a
        caller that checked step 1 itself); the same errors from step 2 on."""
        expected_jkt = bound_jkt(token_claims)
        key, jti, iat = self._checked_proof(proof, method, htu, access_token)
        if key.jkt != expected_jkt:
            raise InvalidTokenError("proof key is not the token's cnf.jkt")
        self._record(key.jkt, jti, iat)
        return DPoPProof(key.jkt, jti, iat)

    def verify_token_request(
        self, proof_values: Sequence[str], *, method: str, htu: str
    ) -> DPoPProof:
        """Check and record the proof of a token request (RFC 9449 §5): no ``ath`` (there is
        no access token yet) and no binding; the returned ``jkt`` is the key to bind the
        issued token to. Same errors as ``verify`` otherwise. (The development issuer's
        token endpoint: the API itself never issues tokens.)"""
        key, jti, iat = self._checked_proof(single_proof(proof_values), method, htu, None)
        self._record(key.jkt, jti, iat)
        return DPoPProof(key.jkt, jti, iat)

    def _checked_proof(
        self, proof: str, method: str, htu: str, access_token: str | None
    ) -> tuple[ProofKey, str, float]:
        """SPEC §3a step 3 (and the nonce of step 6): the proof's key, ``jti`` and ``iat``."""
        header_b64, payload_b64, signature_b64 = proof.split(".")
        key = self._checked_header(header_b64)
        claims = _strict(decode_json_segment, payload_b64)
        signature = _strict(decode_segment, signature_b64)
        signing_input = proof[: len(header_b64) + 1 + len(payload_b64)].encode("ascii")
        if not key.verify(signing_input, signature):
            raise InvalidDPoPProofError("bad signature")
        jti, iat = self._check_claims(claims, method, htu, access_token)
        if self.nonces is not None and not self.nonces.is_valid(claims.get("nonce")):
            raise UseDPoPNonceError(self.nonces.current())
        return key, jti, iat

    def _check_header(self, header_b64: str) -> ProofKey:
        """The JOSE header rules (RFC 9449 §4.3 checks 4-6); memoized per exact segment."""
        header = _strict(decode_json_segment, header_b64)
        typ = header.get("typ")
        # RFC 7515 §4.1.9: "application/dpop+jwt" is the same media type
        if not isinstance(typ, str) or typ.lower().removeprefix("application/") != "dpop+jwt":
            raise InvalidDPoPProofError("typ is not dpop+jwt")
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in self._algorithms:
            raise InvalidDPoPProofError("alg not allowed")
        key = proof_key(header.get("jwk"), alg)
        # RFC 7515 §4.1.11: no extension is understood. `cty` would mark a nested payload,
        # which a proof never is (refused as for access tokens). `kid`, `jku`, `x5u` and
        # `x5c` are ignored: the key is the `jwk`, never fetched or looked up.
        if "crit" in header or "cty" in header:
            raise InvalidDPoPProofError("crit or cty present")
        return key

    def _check_claims(
        self, claims: Mapping[str, Any], method: str, htu: str, access_token: str | None
    ) -> tuple[str, float]:
        """RFC 9449 §4.3 checks 7-12: ``jti``, ``htm``, ``htu``, ``iat``, ``exp`` and
        ``nbf`` when present (RFC 7519 §4.1.4-§4.1.5), ``ath`` (when an access token is
        presented)."""
        jti = claims.get("jti")
        if not isinstance(jti, str) or not 0 < len(jti) <= MAX_JTI_LENGTH:
            raise InvalidDPoPProofError("jti is not a string of 1-256 characters")
        if claims.get("htm") != method:
            raise InvalidDPoPProofError("htm is not the request method")
        proof_htu = normalize_uri(claims.get("htu"))
        if proof_htu is None or proof_htu != normalize_uri(htu):
            raise InvalidDPoPProofError("htu is not the request URI")
        iat = claims.get("iat")
        # type() rather than isinstance: bool is an int. NaN and infinities fail the range.
        if type(iat) not in _NUMBER_TYPES or not 0 <= iat <= MAX_NUMERIC_DATE:
            raise InvalidDPoPProofError("iat is not a NumericDate")
        now = self.clock()
        if iat > now + self.leeway:
            raise InvalidDPoPProofError("iat in the future")
        if iat < now - self.settings.auth_dpop_max_age - self.leeway:
            raise InvalidDPoPProofError("proof too old")
        if "exp" in claims or "nbf" in claims:  # no client sends them: one lookup each
            _strict(self._check_validity, claims, now, problem="exp or nbf not met")
        # neither `ath` nor `jkt` is secret (both are hashes the client sends): plain `!=`
        if access_token is not None and claims.get("ath") != access_token_hash(access_token):
            raise InvalidDPoPProofError("ath is not the access token's hash")
        return jti, float(iat)

    def _check_validity(self, claims: Mapping[str, Any], now: float) -> None:
        """RFC 7519 §4.1.4-§4.1.5: a proof is a JWT (RFC 9449 §4.2), and an ``exp`` or
        ``nbf`` it carries binds it as it binds a token, read as strictly (SPEC §3a step
        3); raises the token's errors, which ``_strict`` makes the proof's."""
        exp = numeric_date(claims, "exp")
        if exp is not None:
            check_expiry(exp, now, self.leeway)
        nbf = numeric_date(claims, "nbf")
        if nbf is not None:
            check_not_before(nbf, now, self.leeway)

    def _record(self, jkt: str, jti: str, iat: float) -> None:
        """SPEC §3a step 5: kept until ``iat`` + max age + leeway, when ``iat`` alone refuses."""
        expires_at = iat + self.settings.auth_dpop_max_age + self.leeway
        try:
            recorded = self.replay_store.record(jkt, jti, expires_at)
        except ReplayStoreUnavailableError as exc:
            raise DPoPReplayUnavailableError(exc.retry_after, "replay store unreachable") from None
        if not recorded:
            raise ReplayedDPoPProofError("jti already used with this key")


def _strict(check: Callable[..., Any], *args: Any, problem: str = "not a compact JWS") -> Any:
    """``check(*args)`` as a token's part is checked (a compact-JWS segment decoded, a
    time claim judged), its ``InvalidTokenError`` refused as a proof's, for ``problem``."""
    try:
        return check(*args)
    except InvalidTokenError:
        raise InvalidDPoPProofError(problem) from None
