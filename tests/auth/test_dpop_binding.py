"""DPoP verification, SPEC §3a steps 4-6: binding to ``cnf.jkt``, replay, nonces; the
RFC 9449 example values; the errors' status, code and fixed texts."""

from __future__ import annotations

import base64
import threading

import pytest

from auth.dpop import DPoPVerifier, access_token_hash
from auth.dpop_settings import DPoPSettings
from auth.errors import (
    DPoPReplayUnavailableError,
    InvalidDPoPProofError,
    InvalidTokenError,
    ReplayedDPoPProofError,
    UseDPoPNonceError,
)
from auth.nonce import DPoPNonces
from auth.proof_key import jwk_thumbprint, proof_key
from auth.replay import MemoryReplayStore, ReplayStoreUnavailableError
from auth.testing import OMIT, DPoPKey
from auth.testing import access_token_hash as kit_access_token_hash
from tests.auth.dpop_case import LEEWAY, NOW, Clock, DPoPCase, payload_of

SECRET = b"n" * 32


class RecordingStore:
    """A ``ReplayStore`` that remembers every call (and can be made unreachable)."""

    def __init__(self, *, reachable: bool = True) -> None:
        self.calls: list[tuple[str, str, float]] = []
        self.reachable = reachable
        self.inner = MemoryReplayStore()

    def record(self, jkt: str, jti: str, expires_at: float) -> bool:
        if not self.reachable:
            raise ReplayStoreUnavailableError("down", retry_after=7.2)
        self.calls.append((jkt, jti, expires_at))
        return self.inner.record(jkt, jti, expires_at)


# -- step 4: binding -----------------------------------------------------------------------


def test_valid_proof_of_another_key_is_invalid_token(case):
    thief = DPoPKey()
    with pytest.raises(InvalidTokenError) as caught:
        case.verify(thief.proof("GET", "https://api.example.com/incomes", case.token, now=NOW))
    assert type(caught.value) is InvalidTokenError


def test_token_bound_to_another_key_is_invalid_token(case):
    claims = {**case.claims, "cnf": {"jkt": DPoPKey().jkt}}
    with pytest.raises(InvalidTokenError) as caught:
        case.verify(case.proof(), token_claims=claims)
    assert type(caught.value) is InvalidTokenError


# -- step 5: replay ------------------------------------------------------------------------


def test_replayed_proof_is_refused(case):
    proof = case.proof()
    case.verify(proof)
    with pytest.raises(ReplayedDPoPProofError) as caught:
        case.verify(proof)
    assert caught.value.code == "invalid_dpop_proof"


def test_replay_to_another_worker_sharing_the_store_is_refused(case):
    proof = case.proof()
    case.verify(proof)
    with pytest.raises(ReplayedDPoPProofError):
        case.verify(proof, verifier=case.new_verifier())


def test_new_proof_with_a_fresh_jti_is_accepted(case):
    case.verify(case.proof())
    assert case.verify(case.proof())


def test_record_is_kept_for_iat_plus_max_age_plus_leeway(kit, client_key):
    store = RecordingStore()
    case = DPoPCase(kit, client_key, store=store)
    case.verify(case.proof(jti="kept", claims={"iat": NOW - 5}))
    assert store.calls == [(client_key.jkt, "kept", NOW - 5 + 300 + LEEWAY)]


@pytest.mark.parametrize(
    "broken",
    [
        {"claims": {"htm": "POST"}},
        {"claims": {"ath": OMIT}},
        {"headers": {"typ": "JWT"}},
        {"corrupt_signature": True},
    ],
)
def test_refused_proof_burns_nothing(kit, client_key, broken):
    store = RecordingStore()
    case = DPoPCase(kit, client_key, store=store)
    with pytest.raises(InvalidDPoPProofError):
        case.verify(case.proof(jti="same", **broken))
    assert store.calls == []
    assert case.verify(case.proof(jti="same"))


def test_proof_refused_for_its_request_can_still_be_used_for_its_own(case):
    proof = case.proof("POST")
    with pytest.raises(InvalidDPoPProofError):
        case.verify(proof, method="GET")
    assert case.verify(proof, method="POST")


def test_proof_refused_by_the_binding_burns_nothing(kit, client_key):
    store = RecordingStore()
    case = DPoPCase(kit, client_key, store=store)
    thief = DPoPKey()
    with pytest.raises(InvalidTokenError):
        case.verify(thief.proof("GET", "https://api.example.com/incomes", case.token, now=NOW))
    assert store.calls == []


def test_unreachable_store_is_a_503_with_retry_after(kit, client_key):
    case = DPoPCase(kit, client_key, store=RecordingStore(reachable=False))
    with pytest.raises(DPoPReplayUnavailableError) as caught:
        case.verify(case.proof())
    assert (caught.value.status, caught.value.code) == (503, "dpop_replay_unavailable")
    assert caught.value.retry_after == 8  # whole seconds, rounded up


def test_refused_proof_does_not_reach_an_unreachable_store(kit, client_key):
    case = DPoPCase(kit, client_key, store=RecordingStore(reachable=False))
    with pytest.raises(InvalidDPoPProofError):
        case.verify(case.proof(claims={"htm": "PUT"}))


def test_concurrent_replays_accept_exactly_one(case):
    proof = case.proof()
    verifiers = [case.new_verifier() for _ in range(6)]
    barrier = threading.Barrier(len(verifiers))
    outcomes: list[str] = []

    def send(verifier: DPoPVerifier) -> None:
        barrier.wait(timeout=10)
        try:
            case.verify(proof, verifier=verifier)
            outcomes.append("accepted")
        except ReplayedDPoPProofError:
            outcomes.append("replay")

    threads = [threading.Thread(target=send, args=(v,)) for v in verifiers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert sorted(outcomes) == ["accepted"] + ["replay"] * 5


# -- step 6: nonces ------------------------------------------------------------------------


@pytest.fixture
def nonce_case(kit, client_key) -> DPoPCase:
    return DPoPCase(kit, client_key, auth_dpop_nonce_secret=SECRET)


def test_proof_without_nonce_gets_use_dpop_nonce_with_a_fresh_one(nonce_case):
    with pytest.raises(UseDPoPNonceError) as caught:
        nonce_case.verify(nonce_case.proof())
    fresh = caught.value.nonce
    assert (caught.value.status, caught.value.code) == (401, "use_dpop_nonce")
    assert nonce_case.verify(nonce_case.proof(nonce=fresh))


@pytest.mark.parametrize("nonce", ["", "stale", 42, None])
def test_proof_with_an_invalid_nonce_gets_use_dpop_nonce(nonce_case, nonce):
    with pytest.raises(UseDPoPNonceError):
        nonce_case.verify(nonce_case.proof(claims={"nonce": nonce}))


def test_nonce_from_the_previous_step_is_accepted(nonce_case):
    issued = nonce_case.verifier.nonces.current()
    nonce_case.clock.now += 60
    assert nonce_case.verify(nonce_case.proof(nonce=issued))


def test_nonce_two_steps_old_gets_use_dpop_nonce(nonce_case):
    issued = nonce_case.verifier.nonces.current()
    nonce_case.clock.now += 120
    with pytest.raises(UseDPoPNonceError):
        nonce_case.verify(nonce_case.proof(nonce=issued))


def test_nonce_issued_by_another_instance_with_the_secret_is_accepted(nonce_case):
    other_instance = DPoPNonces(SECRET, clock=Clock(NOW + 5))
    assert nonce_case.verify(nonce_case.proof(nonce=other_instance.current()))


def test_nonce_of_another_secret_gets_use_dpop_nonce(nonce_case):
    foreign = DPoPNonces(b"x" * 32, clock=Clock()).current()
    with pytest.raises(UseDPoPNonceError):
        nonce_case.verify(nonce_case.proof(nonce=foreign))


def test_missing_nonce_burns_nothing(kit, client_key):
    store = RecordingStore()
    case = DPoPCase(kit, client_key, store=store, auth_dpop_nonce_secret=SECRET)
    with pytest.raises(UseDPoPNonceError):
        case.verify(case.proof(jti="retry"))
    assert store.calls == []
    assert case.verify(case.proof(jti="retry", nonce=case.verifier.nonces.current()))


def test_other_defects_are_reported_before_the_nonce(nonce_case):
    with pytest.raises(InvalidDPoPProofError):
        nonce_case.verify(nonce_case.proof(claims={"htm": "POST"}))


def test_without_nonces_a_nonce_claim_is_ignored(case):
    assert case.verify(case.proof(nonce="anything"))


# -- RFC 9449 example values ---------------------------------------------------------------

# §7.1, Figure 12: a request to a protected resource with its DPoP proof (Figure 13).
RFC9449_ACCESS_TOKEN = "Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"
RFC9449_ATH = "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"
RFC9449_JKT = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"
RFC9449_RESOURCE_PROOF = (
    "eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6Ik"
    "VDIiwieCI6Imw4dEZyaHgtMzR0VjNoUklDUkRZOXpDa0RscEJoRjQyVVFVZldWQVdCR"
    "nMiLCJ5IjoiOVZFNGpmX09rX282NHpiVFRsY3VOSmFqSG10NnY5VERWclUwQ2R2R1JE"
    "QSIsImNydiI6IlAtMjU2In19.eyJqdGkiOiJlMWozVl9iS2ljOC1MQUVCIiwiaHRtIj"
    "oiR0VUIiwiaHR1IjoiaHR0cHM6Ly9yZXNvdXJjZS5leGFtcGxlLm9yZy9wcm90ZWN0Z"
    "WRyZXNvdXJjZSIsImlhdCI6MTU2MjI2MjYxOCwiYXRoIjoiZlVIeU8ycjJaM0RaNTNF"
    "c05yV0JiMHhXWG9hTnk1OUlpS0NBcWtzbVFFbyJ9.2oW9RP35yRqzhrtNP86L-Ey71E"
    "OptxRimPPToA1plemAgR6pxHF8y6-yqyVnmcw6Fy1dqd-jfxSYoMxhAJpLjA"
)
# §4.1, Figure 2: a proof for a token request (no `ath`: it goes to the token endpoint).
RFC9449_TOKEN_REQUEST_PROOF = (
    "eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6Ik"
    "VDIiwieCI6Imw4dEZyaHgtMzR0VjNoUklDUkRZOXpDa0RscEJoRjQyVVFVZldWQVdCR"
    "nMiLCJ5IjoiOVZFNGpmX09rX282NHpiVFRsY3VOSmFqSG10NnY5VERWclUwQ2R2R1JE"
    "QSIsImNydiI6IlAtMjU2In19.eyJqdGkiOiItQndDM0VTYzZhY2MybFRjIiwiaHRtIj"
    "oiUE9TVCIsImh0dSI6Imh0dHBzOi8vc2VydmVyLmV4YW1wbGUuY29tL3Rva2VuIiwia"
    "WF0IjoxNTYyMjYyNjE2fQ.2-GxA6T8lP4vfrg8v-FdWP0A0zdrj8igiMLvqRMUvwnQg"
    "4PtFLbdLXiOSsX0x7NVY-FNyJK70nfbV37xRZT3Lg"
)
RFC9449_RESOURCE = "https://resource.example.org/protectedresource"


def _rfc_verifier(now: float) -> DPoPVerifier:
    settings = DPoPSettings(api_base_url="https://resource.example.org")
    return DPoPVerifier(settings, MemoryReplayStore(clock=lambda: now), clock=lambda: now)


def test_rfc9449_ath_example():
    assert access_token_hash(RFC9449_ACCESS_TOKEN) == RFC9449_ATH
    assert kit_access_token_hash(RFC9449_ACCESS_TOKEN) == RFC9449_ATH


def test_rfc9449_resource_request_example_is_accepted():
    accepted = _rfc_verifier(1562262618 + 2).verify(
        [RFC9449_RESOURCE_PROOF],
        method="GET",
        htu=RFC9449_RESOURCE,
        access_token=RFC9449_ACCESS_TOKEN,
        token_claims={"cnf": {"jkt": RFC9449_JKT}},
    )
    assert (accepted.jkt, accepted.jti, accepted.iat) == (
        RFC9449_JKT,
        "e1j3V_bKic8-LAEB",
        1562262618,
    )


def test_rfc9449_token_request_proof_verifies_with_its_own_jwk():
    header_b64, payload_b64, signature_b64 = RFC9449_TOKEN_REQUEST_PROOF.split(".")
    header = payload_of(f"x.{header_b64}.x")
    key = proof_key(header["jwk"], "ES256")
    assert key.jkt == jwk_thumbprint(header["jwk"]) == RFC9449_JKT
    signature = base64.urlsafe_b64decode(signature_b64 + "==")
    assert key.verify(f"{header_b64}.{payload_b64}".encode(), signature)
    assert not key.verify(f"{header_b64}.{payload_b64}x".encode(), signature)


def test_rfc9449_token_request_proof_lacks_ath_for_a_resource():
    # the same proof at a resource: everything holds except `ath` (RFC 9449 §7)
    with pytest.raises(InvalidDPoPProofError) as caught:
        _rfc_verifier(1562262616).verify(
            [RFC9449_TOKEN_REQUEST_PROOF],
            method="POST",
            htu="https://server.example.com/token",
            access_token=RFC9449_ACCESS_TOKEN,
            token_claims={"cnf": {"jkt": RFC9449_JKT}},
        )
    assert "ath" in caught.value.reason


# -- errors --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (InvalidDPoPProofError("secret detail"), 401, "invalid_dpop_proof"),
        (ReplayedDPoPProofError("secret detail"), 401, "invalid_dpop_proof"),
        (UseDPoPNonceError("n0nce", "secret detail"), 401, "use_dpop_nonce"),
        (DPoPReplayUnavailableError(0.2, "secret detail"), 503, "dpop_replay_unavailable"),
    ],
)
def test_dpop_errors_have_status_code_and_a_fixed_description(error, status, code):
    assert (error.status, error.code) == (status, code)
    assert "secret detail" not in error.description
    assert error.description == type(error).description


def test_challenge_attributes():
    assert InvalidDPoPProofError().bearer_error == "invalid_dpop_proof"
    assert UseDPoPNonceError("n0nce").bearer_error == "use_dpop_nonce"
    assert UseDPoPNonceError("n0nce").nonce == "n0nce"
    assert DPoPReplayUnavailableError(0.2).bearer_error is None
    assert DPoPReplayUnavailableError(0.2).retry_after == 1
