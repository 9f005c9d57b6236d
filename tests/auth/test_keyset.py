"""``auth.keyset``: JWKs as key objects, a JWK Set parsed, key selection and binding.

Unit tests of ``build_verifier``, ``parse_jwk_set`` and ``select_key``, then SPEC
§3 step 3 through the verifier and the cache: exactly one entry with the token's
``kid``, bound to its ``alg`` (``use``, ``key_ops``, ``kty``/``crv``, ``alg``).
"""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import responses

from auth.errors import InvalidTokenError
from auth.jwks_server import Answer, JWKSServer
from auth.keyset import (
    ABSENT,
    KeySetError,
    SigningKey,
    UnusableKeyError,
    build_signing_key,
    build_verifier,
    parse_jwk_set,
    select_key,
)
from auth.testing import OMIT, b64url, generate_ec_key, generate_rsa_key, public_jwk, sign
from auth.verify import TokenVerifier
from tests.auth.clocks import NOW
from tests.auth.jwks_responses import KID, fetches

VALID_HEADER = {"alg": "RS256", "typ": "JWT", "kid": "test-key-1"}


def document(*keys: object, **members: object) -> bytes:
    return json.dumps({"keys": list(keys), **members}).encode()


@pytest.mark.parametrize("alg", ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"])
def test_build_verifier_rsa(kit, alg):
    verify = build_verifier(kit.jwks()["keys"][0], alg)
    signature = sign(b"signing input", alg, kit.key)
    assert verify(b"signing input", signature)
    assert not verify(b"other input", signature)


@pytest.mark.parametrize("alg", ["ES256", "ES384", "ES512"])
def test_build_verifier_ec(alg):
    key = generate_ec_key(alg)
    verify = build_verifier(public_jwk(key, "ec"), alg)
    assert verify(b"input", sign(b"input", alg, key))
    assert not verify(b"input", sign(b"input", alg, generate_ec_key(alg)))


@pytest.mark.parametrize(
    ("jwk", "alg"),
    [
        ("rsa", "ES256"),  # kty does not fit alg
        ("p256", "ES384"),  # curve does not fit alg
        ("p256", "RS256"),
        ("rsa", "HS256"),  # not an asymmetric JWS algorithm
        ("rsa", "none"),
        ("rsa-1024", "RS256"),  # under 2048 bits
        ("rsa-huge-e", "RS256"),  # a number where a base64url string belongs
        ("oct", "RS256"),
    ],
)
def test_build_verifier_refuses_a_key_that_does_not_fit(kit, jwk, alg):
    jwks = {
        "rsa": kit.jwks()["keys"][0],
        "p256": public_jwk(generate_ec_key("ES256"), "ec"),
        "rsa-1024": public_jwk(generate_rsa_key(1024), "small"),
        "rsa-huge-e": {**kit.jwks()["keys"][0], "e": float("inf")},
        "oct": {"kty": "oct", "k": "c2VjcmV0"},
    }
    with pytest.raises(UnusableKeyError):
        build_verifier(jwks[jwk], alg)


def test_build_verifier_reads_only_public_members(kit):
    leaked = {**kit.jwks()["keys"][0], "d": "AQAB", "p": "AQAB", "q": "AQAB"}
    assert build_verifier(leaked, "RS256")(b"x", sign(b"x", "RS256", kit.key))


def test_parse_jwk_set_groups_keys_by_kid(kit):
    kit.add_key("second")
    keys = parse_jwk_set(document(*kit.jwks()["keys"]), ("RS256",))
    assert set(keys) == {KID, "second"}
    assert all(len(group) == 1 and isinstance(group[0], SigningKey) for group in keys.values())
    assert set(keys[KID][0].verifiers) == {"RS256"}


def test_parse_jwk_set_reuses_known_keys_with_the_same_public_members(kit):
    first = parse_jwk_set(document(*kit.jwks()["keys"]), ("RS256",))[KID][0]
    again = parse_jwk_set(document(*kit.jwks()["keys"]), ("RS256",), known=[first])
    assert again[KID][0] is first


def test_parse_jwk_set_skipped_entry_sharing_a_kid_makes_it_ambiguous(kit):
    keys = parse_jwk_set(document(kit.jwks()["keys"][0], {"kty": "oct", "kid": KID}), ("RS256",))
    assert len(keys[KID]) == 2
    with pytest.raises(InvalidTokenError):
        select_key(keys[KID], "RS256")


@pytest.mark.parametrize(
    "text",
    [b"{}", b'{"keys": {}}', b"[]", b"not json", b'{"keys": []}', b'{"keys": [1, "x", null]}'],
)
def test_parse_jwk_set_refuses_what_holds_no_usable_key(text):
    with pytest.raises(KeySetError):
        parse_jwk_set(text, ("RS256",))


def with_number(jwk: dict, member: str, number: str) -> str:
    """``jwk`` as JSON text with ``member`` set to the number text ``number``."""
    return json.dumps({**jwk, member: "NUMBER"}).replace('"NUMBER"', number)


@pytest.mark.parametrize("digits", [4301, 10000, 500_000])
@pytest.mark.parametrize("member", ["e", "n", "kid", "use", "alg", "key_ops"])
def test_parse_jwk_set_key_with_a_huge_number_is_skipped_not_the_set(kit, member, digits):
    # Issue 9: the document is valid JSON; before, the whole set was "not JSON".
    kit.add_key("good")
    bad, good = kit.jwks()["keys"]
    text = '{"keys": [' + with_number(bad, member, "1" * digits) + ", " + json.dumps(good) + "]}"
    keys = parse_jwk_set(text.encode(), ("RS256",))
    assert keys["good"][0].verifiers
    assert KID not in keys or select_key_fails(keys[KID])


def select_key_fails(candidates: tuple[SigningKey, ...]) -> bool:
    try:
        select_key(candidates, "RS256")
    except InvalidTokenError:
        return True
    return False


@pytest.mark.parametrize("number", ["1" * 4301, "-" + "9" * 10000, "1e400", "-0"])
def test_parse_jwk_set_huge_number_in_an_unknown_member_leaves_the_key_usable(kit, number):
    (jwk,) = kit.jwks()["keys"]
    text = '{"keys": [' + with_number(jwk, "x-extension", number) + '], "x": ' + number + "}"
    keys = parse_jwk_set(text.encode(), ("RS256",))
    assert select_key(keys[KID], "RS256").kid == KID


def test_verify_with_a_jwks_whose_other_key_has_a_huge_number(kit, verifier, mint_at):
    kit.add_key("broken")
    good, broken = kit.jwks()["keys"]
    text = '{"keys": [' + json.dumps(good) + ", " + with_number(broken, "n", "7" * 9000) + "]}"
    with responses.RequestsMock() as rsps:
        rsps.get(kit.jwks_url, body=text)
        assert TokenVerifier(kit.settings(), clock=lambda: NOW).verify(mint_at())["sub"] == "user-1"


def test_verify_with_a_loopback_jwks_whose_other_key_has_a_huge_number(kit, mint_at):
    kit.add_key("broken")
    good, broken = kit.jwks()["keys"]
    text = '{"keys": [' + json.dumps(good) + ", " + with_number(broken, "e", "1" * 9000) + "]}"
    with JWKSServer(kit.jwks) as server:
        server.answer(Answer(body=text.encode()))
        settings = replace(kit.settings(), jwks_urls={kit.issuer: server.url})
        assert TokenVerifier(settings, clock=lambda: NOW).verify(mint_at())["sub"] == "user-1"


def test_select_key_returns_the_one_bound_key(kit):
    key = build_signing_key(kit.jwks()["keys"][0], ("RS256", "PS256"))
    assert select_key((key,), "RS256") is key
    assert (key.use, key.key_ops, key.alg) == ("sig", ABSENT, "RS256")
    with pytest.raises(InvalidTokenError):
        select_key((key,), "PS256")  # the JWK says alg RS256
    with pytest.raises(InvalidTokenError):
        select_key((), "RS256")


def test_verify_unknown_kid_is_invalid_token(mint_at, verifier):
    with pytest.raises(InvalidTokenError):
        verifier().verify(mint_at(kid="not-published"))


@pytest.mark.parametrize("member", ["jwk", "jku", "x5u", "x5c"])
@pytest.mark.parametrize("kid", ["test-key-1", "attacker"])
def test_verify_embedded_key_headers_are_never_used(kit, mint_at, verifier, jwks, member, kid):
    attacker = kit.other_key()
    values = {
        "jwk": public_jwk(attacker, kid),
        "jku": "https://attacker.example.com/jwks.json",
        "x5u": "https://attacker.example.com/cert.pem",
        "x5c": ["MIIBfake"],
    }
    token = mint_at(key=attacker, kid=kid, headers={member: values[member]})
    with pytest.raises(InvalidTokenError):
        verifier().verify(token)
    assert all(call.request.url == kit.jwks_url for call in jwks.calls)


@pytest.mark.parametrize(
    ("jwk_extra", "algorithms"),
    [
        ({"use": "enc"}, ("RS256",)),
        ({"key_ops": ["encrypt"]}, ("RS256",)),
        ({"key_ops": ["sign"]}, ("RS256",)),
        ({"key_ops": "verify"}, ("RS256",)),
        ({"alg": "RS384"}, ("RS256", "RS384")),
        ({"alg": "PS256"}, ("RS256", "PS256")),
        ({"use": None}, ("RS256",)),
        ({"key_ops": None}, ("RS256",)),
        ({"alg": None}, ("RS256",)),
    ],
)
def test_verify_key_not_bound_to_the_token_is_refused(
    kit, mint_at, verifier, jwk_extra, algorithms
):
    kit.add_key("bound", kit.key, **jwk_extra)
    token = mint_at(kid="bound")
    with pytest.raises(InvalidTokenError):
        verifier(auth_algorithms=algorithms).verify(token)


@pytest.mark.parametrize(
    "jwk_extra",
    [{"use": "sig"}, {"use": OMIT}, {"key_ops": ["verify"]}, {"alg": OMIT}, {"alg": "RS256"}],
)
def test_verify_key_binding_accepted(kit, mint_at, verifier, jwk_extra):
    kit.add_key("bound", kit.key, **jwk_extra)
    assert verifier().verify(mint_at(kid="bound"))["sub"] == "user-1"


def test_verify_duplicate_kid_in_jwks_is_invalid_token(kit, mint_at, verifier):
    kit.add_key("test-key-1", kit.other_key(), duplicate_kid=True)
    with pytest.raises(InvalidTokenError):
        verifier().verify(mint_at())


@pytest.mark.parametrize(
    "unusable",
    [
        {"kty": "oct", "k": "c2VjcmV0"},
        {"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"},
        {"kty": "RSA", "n": 5, "e": "AQAB"},
        "small-rsa",
    ],
)
def test_verify_kid_shared_with_an_unusable_jwk_is_invalid_token(kit, mint_at, unusable):
    # SPEC §3 step 3: exactly one JWKS entry with that kid, usable or not.
    if unusable == "small-rsa":
        unusable = public_jwk(generate_rsa_key(1024), "x")
    published = [{**unusable, "kid": "test-key-1"}, *kit.jwks()["keys"]]
    with responses.RequestsMock() as rsps:
        rsps.get(kit.jwks_url, json={"keys": published})
        with pytest.raises(InvalidTokenError):
            TokenVerifier(kit.settings(), clock=lambda: NOW).verify(mint_at())


def test_verify_unusable_jwk_with_another_kid_is_skipped(kit, mint_at):
    published = [{"kty": "oct", "k": "c2VjcmV0", "kid": "hs"}, *kit.jwks()["keys"]]
    with responses.RequestsMock() as rsps:
        rsps.get(kit.jwks_url, json={"keys": published})
        assert TokenVerifier(kit.settings(), clock=lambda: NOW).verify(mint_at())


def test_verify_ec_key_for_rsa_alg_is_refused(kit, mint_at, verifier):
    ec_key = generate_ec_key("ES256")
    kit.add_key("ec", ec_key, alg=OMIT)
    token = mint_at(kid="ec", key=kit.key)
    with pytest.raises(InvalidTokenError):
        verifier(auth_algorithms=("RS256", "ES256")).verify(token)


def test_verify_curve_mismatch_is_refused(kit, mint_at, verifier):
    kit.add_key("p384", generate_ec_key("ES384"), alg=OMIT)
    token = mint_at(kid="p384", alg="ES256", key=generate_ec_key("ES256"))
    with pytest.raises(InvalidTokenError):
        verifier(auth_algorithms=("ES256", "ES384")).verify(token)


@pytest.mark.parametrize("alg", ["RS384", "RS512", "PS256", "PS384", "PS512"])
def test_verify_other_rsa_algorithms_when_configured(kit, mint_at, verifier, alg):
    kit.add_key("multi", kit.key, alg=OMIT)
    token = mint_at(kid="multi", alg=alg)
    assert verifier(auth_algorithms=(alg,)).verify(token)["sub"] == "user-1"


@pytest.mark.parametrize("alg", ["ES256", "ES384", "ES512"])
def test_verify_ec_algorithms_when_configured(kit, mint_at, verifier, alg):
    key = generate_ec_key(alg)
    kit.add_key("ec", key, alg=alg)
    assert verifier(auth_algorithms=(alg,)).verify(mint_at(kid="ec", alg=alg, key=key))


def test_verify_pss_signature_is_not_accepted_as_pkcs1(mint_at, verifier):
    token = mint_at(alg="PS256")
    _, payload, signature = token.split(".")
    relabelled = b64url(json.dumps(VALID_HEADER).encode())
    with pytest.raises(InvalidTokenError):
        verifier(auth_algorithms=("RS256", "PS256")).verify(f"{relabelled}.{payload}.{signature}")


def test_jwks_unusable_keys_are_skipped(kit, cache):
    small = generate_rsa_key(1024)
    keys = [
        {"kty": "oct", "k": "c2VjcmV0", "kid": "symmetric"},
        {"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"},
        {"kty": "RSA", "kid": "broken", "n": 5, "e": "AQAB"},
        {"kty": "RSA", "kid": "no-e", "n": "AQAB"},
        {"kty": "EC", "kid": "bad-curve", "crv": "P-192", "x": "AA", "y": "AA"},
        public_jwk(small, "too-small"),
        {"kid": "no-kty"},
        "not an object",
        42,
        kit.jwks()["keys"][0],
    ]
    with responses.RequestsMock() as rsps:
        rsps.get(kit.jwks_url, json={"keys": keys})
        c = cache()
        assert c.lookup(KID)[0].kid == KID
        for kid in ("symmetric", "broken", "no-e", "bad-curve", "too-small"):
            assert c.lookup(kid) == ()


def test_jwks_private_members_are_ignored(kit, jwks, cache):
    # A key set that leaks private parameters still yields a public-only verifier.
    numbers = kit.key.private_numbers()
    jwk = {**kit.jwks()["keys"][0], "d": "AQAB", "p": "AQAB"}
    assert numbers.d > 0
    with responses.RequestsMock() as rsps:
        rsps.get(kit.jwks_url, json={"keys": [jwk]})
        assert cache().lookup(KID)[0].kid == KID


@pytest.mark.parametrize("change", [None, "other-key-added", "reordered"])
def test_jwks_refresh_with_unchanged_jwk_keeps_the_key_object(kit, jwks, cache, clock, change):
    c = cache()
    first = c.lookup(KID)[0]
    if change == "other-key-added":
        kit.add_key("added")
    elif change == "reordered":
        kit.add_key("added")
        kit.keys.reverse()
    clock.advance(601)
    c.lookup(KID)  # past the TTL: this lookup refreshes
    assert fetches(jwks, kit.jwks_url) == 2
    assert c.lookup(KID)[0] is first


@pytest.mark.parametrize(
    "jwk_change",
    [
        {"alg": "RS384"},
        {"use": "enc"},
        {"key_ops": ["verify"]},
        {"e": "Aw"},
        {"n": "other"},
    ],
)
def test_jwks_refresh_with_changed_jwk_builds_a_new_key_object(kit, jwks, cache, clock, jwk_change):
    c = cache(algorithms=("RS256", "RS384"))
    first = c.lookup(KID)[0]
    if jwk_change.get("n") == "other":
        kit.keys[0] = replace(kit.keys[0], private_key=kit.other_key())
    else:
        kit.keys[0] = replace(kit.keys[0], jwk_extra={**kit.keys[0].jwk_extra, **jwk_change})
    clock.advance(601)
    c.lookup(KID)
    assert fetches(jwks, kit.jwks_url) == 2
    assert c.lookup(KID)[0] is not first
