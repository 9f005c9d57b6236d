"""A proof's ``jwk``: RFC 7638 thumbprints, and every rule of a usable public key (SPEC §3a)."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from auth.errors import InvalidDPoPProofError
from auth.proof_key import jwk_thumbprint, proof_key
from auth.testing import DPoPKey, b64url, generate_rsa_key, private_jwk, public_jwk, sign

# RFC 7638 §3.1: the example RSA key (that of RFC 7517 Appendix A.1) and its thumbprint.
RFC7638_JWK = {
    "kty": "RSA",
    "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc"
    "_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_"
    "FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4"
    "vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
    "e": "AQAB",
    "alg": "RS256",
    "kid": "2011-04-29",
}
RFC7638_THUMBPRINT = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
# RFC 9449 §4.1 (Figure 3): the example proof key; §6.1 (Figure 8): its jkt.
RFC9449_JWK = {
    "kty": "EC",
    "x": "l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs",
    "y": "9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA",
    "crv": "P-256",
}
RFC9449_JKT = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"


def test_rfc7638_example_thumbprint():
    assert jwk_thumbprint(RFC7638_JWK) == RFC7638_THUMBPRINT


def test_rfc9449_example_jkt():
    assert jwk_thumbprint(RFC9449_JWK) == RFC9449_JKT


def test_thumbprint_ignores_optional_members_and_member_order():
    reordered = {"y": RFC9449_JWK["y"], "crv": "P-256", "x": RFC9449_JWK["x"], "kty": "EC"}
    assert jwk_thumbprint({**reordered, "kid": "k", "use": "sig", "alg": "ES256"}) == RFC9449_JKT


@pytest.mark.parametrize("jwk", [{"kty": "oct", "k": "AAAA"}, {"kty": "EC"}, {"kty": ["EC"]}, {}])
def test_thumbprint_of_an_unsupported_jwk_is_a_value_error(jwk):
    with pytest.raises(ValueError):
        jwk_thumbprint(jwk)


def test_kit_thumbprint_agrees_with_the_verifier():
    client = DPoPKey()
    assert client.jkt == jwk_thumbprint(client.jwk())


def test_rfc9449_example_key_fits_es256():
    key = proof_key(dict(RFC9449_JWK), "ES256")
    assert key.jkt == RFC9449_JKT


@pytest.mark.parametrize("alg", ["ES256", "ES384", "ES512", "RS256", "PS256"])
def test_proof_key_verifies_signatures_of_its_alg(alg):
    client = DPoPKey(alg)
    key = proof_key(client.jwk(), alg)
    assert key.jkt == client.jkt
    signature = sign(b"message", alg, client.private_key)
    assert key.verify(b"message", signature)
    assert not key.verify(b"other message", signature)


@pytest.mark.parametrize(("alg", "digest"), [("ES256", hashes.SHA256), ("ES512", hashes.SHA512)])
def test_ec_signature_not_in_jws_form_is_refused(alg, digest):
    """RFC 7518 §3.4: R || S at the curve's length; DER (what cryptography signs) is not it."""
    client = DPoPKey(alg)
    key = proof_key(client.jwk(), alg)
    raw = sign(b"message", alg, client.private_key)
    der = client.private_key.sign(b"message", ec.ECDSA(digest()))
    assert key.verify(b"message", raw)
    assert not key.verify(b"message", der)
    assert not key.verify(b"message", raw[:-1])
    assert not key.verify(b"message", raw + b"\x00")
    assert not key.verify(b"message", b"\x00" * len(raw))


def test_optional_members_that_agree_are_accepted():
    # what WebCrypto's exportKey("jwk") gives for an ECDSA public key, plus alg and use
    jwk = {**RFC9449_JWK, "ext": True, "key_ops": ["verify"], "alg": "ES256", "use": "sig"}
    assert proof_key(jwk, "ES256").jkt == RFC9449_JKT


def _b64_int(value: int, length: int | None = None) -> str:
    return b64url(value.to_bytes(length or (value.bit_length() + 7) // 8, "big"))


def _refused(jwk: object, alg: str = "ES256") -> None:
    with pytest.raises(InvalidDPoPProofError):
        proof_key(jwk, alg)


@pytest.mark.parametrize("jwk", [None, "jwk", ["a"], 42])
def test_jwk_not_an_object_is_refused(jwk):
    _refused(jwk)


@pytest.mark.parametrize("member", ["d", "p", "q", "dp", "dq", "qi", "oth", "k"])
def test_jwk_with_a_private_member_is_refused(member):
    _refused({**RFC9449_JWK, member: "AQAB"})


def test_real_private_ec_jwk_is_refused():
    _refused(private_jwk(DPoPKey().private_key))


def test_real_private_rsa_jwk_is_refused():
    _refused(private_jwk(DPoPKey("RS256").private_key), "RS256")


@pytest.mark.parametrize(
    ("jwk", "alg"),
    [
        (RFC9449_JWK, "RS256"),  # EC key, RSA alg
        (RFC7638_JWK, "ES256"),  # RSA key, EC alg
        ({**RFC9449_JWK, "kty": "OKP"}, "ES256"),
        ({"kty": "oct", "k": "c2VjcmV0"}, "ES256"),
    ],
)
def test_jwk_kty_must_fit_alg(jwk, alg):
    _refused(jwk, alg)


def test_ec_jwk_on_another_curve_is_refused():
    _refused(DPoPKey("ES384").jwk(), "ES256")


@pytest.mark.parametrize(
    "change",
    [
        {"use": "enc"},
        {"use": None},
        {"key_ops": ["sign"]},
        {"key_ops": "verify"},
        {"alg": "ES384"},
        {"alg": None},
    ],
)
def test_jwk_members_contradicting_alg_are_refused(change):
    _refused({**RFC9449_JWK, **change})


@pytest.mark.parametrize(
    "change",
    [
        {"x": None},
        {"y": 5},
        {"x": RFC9449_JWK["x"][:-1]},  # 31 bytes and a bit: not base64url of 32 bytes
        {"x": _b64_int(1, 31)},  # a coordinate shorter than the curve's 32 octets
        {"x": _b64_int(1, 33)},
        {"x": RFC9449_JWK["x"] + "="},  # padding
        {"x": RFC9449_JWK["x"].replace("-", "+")},  # standard base64
        {"x": RFC9449_JWK["x"][:-1] + "t"},  # stray bits in the last character
        {"x": RFC9449_JWK["y"]},  # a point off the curve
    ],
)
def test_malformed_ec_coordinates_are_refused(change):
    _refused({**RFC9449_JWK, **change})


def test_missing_ec_member_is_refused():
    _refused({k: v for k, v in RFC9449_JWK.items() if k != "y"})


def test_rsa_key_under_2048_bits_is_refused():
    _refused(public_jwk(generate_rsa_key(1024), "k"), "RS256")


def test_rsa_key_over_8192_bits_is_refused():
    _refused({"kty": "RSA", "n": _b64_int(2**8200 + 1), "e": "AQAB"}, "RS256")


def test_rsa_exponent_over_2_31_is_refused():
    jwk = DPoPKey("RS256").jwk()
    _refused({**jwk, "e": _b64_int(2**31 + 1)}, "RS256")


@pytest.mark.parametrize("member", ["n", "e"])
def test_rsa_integer_with_a_leading_zero_octet_is_refused(member):
    jwk = DPoPKey("RS256").jwk()
    padded = b"\x00" + _decode(jwk[member])
    _refused({**jwk, member: b64url(padded)}, "RS256")


def test_rsa_even_modulus_is_refused():
    _refused({"kty": "RSA", "n": _b64_int(2**2048), "e": "AQAB"}, "RS256")


def _decode(value: str) -> bytes:
    import base64

    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
