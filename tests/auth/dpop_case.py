"""A DPoP request under test: a client key, a token bound to it, and a verifier at ``NOW``.

``case.verify(proof)`` runs ``DPoPVerifier.verify`` as the request pipeline will, for
``GET https://api.example.com/incomes``; ``case.proof(**changes)`` is a valid proof for
it, with ``changes`` passed to ``DPoPKey.proof`` to break one thing at a time.
"""

from __future__ import annotations

import base64
import json
from dataclasses import replace
from typing import Any

from auth.dpop import DPoPProof, DPoPVerifier
from auth.dpop_settings import DPoPSettings
from auth.replay import MemoryReplayStore, ReplayStore
from auth.testing import AuthKit, DPoPKey

NOW = 1_750_000_000.0
BASE_URL = "https://api.example.com"
URL = f"{BASE_URL}/incomes"
LEEWAY = 30
SETTINGS = DPoPSettings(api_base_url=BASE_URL)


class Clock:
    """A settable clock, in Unix seconds."""

    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def payload_of(token: str) -> dict[str, Any]:
    """The claims of a kit-made token (what the access-token pipeline hands over)."""
    segment = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))


class DPoPCase:
    """One client, one bound token, one verifier sharing ``store``; all at ``clock``."""

    def __init__(
        self,
        kit: AuthKit,
        client: DPoPKey,
        *,
        store: ReplayStore | None = None,
        clock: Clock | None = None,
        **setting_changes: Any,
    ) -> None:
        self.kit = kit
        self.client = client
        self.clock = clock or Clock()
        self.store = store if store is not None else MemoryReplayStore(clock=self.clock)
        self.settings = replace(SETTINGS, **setting_changes)
        self.token = client.mint_bound(kit)
        self.claims = payload_of(self.token)
        self.verifier = self.new_verifier()

    def new_verifier(self, **kwargs: Any) -> DPoPVerifier:
        """Another verifier (another worker) on the same store and clock."""
        return DPoPVerifier(self.settings, self.store, leeway=LEEWAY, clock=self.clock, **kwargs)

    def proof(self, method: str = "GET", url: str = URL, **changes: Any) -> str:
        """A proof of ``self.client`` for ``self.token`` at ``NOW``, with ``changes``."""
        changes.setdefault("now", self.clock.now)
        token = changes.pop("access_token", self.token)
        return self.client.proof(method, url, token, **changes)

    def verify(
        self,
        proof: str | list[str],
        *,
        method: str = "GET",
        htu: str = URL,
        verifier: DPoPVerifier | None = None,
        **overrides: Any,
    ) -> DPoPProof:
        """Verify ``proof`` (or the raw header values) for the case's request."""
        values = proof if isinstance(proof, list) else [proof]
        return (verifier or self.verifier).verify(
            values,
            method=method,
            htu=htu,
            access_token=overrides.get("access_token", self.token),
            token_claims=overrides.get("token_claims", self.claims),
        )
