"""Stateless DPoP server nonces (RFC 9449 §8-§9, SPEC §3a step 6).

A nonce is ``BASE64URL(HMAC-SHA-256(secret, label || step))`` where ``step`` is the
number of whole ``step_s`` periods since the Unix epoch. Nothing is stored: any worker
or instance holding the same ``AUTH_DPOP_NONCE_SECRET`` (and a roughly synchronised
clock) recomputes the current and the previous step's values and accepts either, so a
nonce stays valid for between one and two steps after it was issued.

Step length, 60 s by default: a nonce exists to bound how long a proof can be used after
the client made it, by the server's clock rather than the ``iat`` the client wrote. Two
steps (at most 2 minutes) is well inside the 5-minute ``AUTH_DPOP_MAX_AGE``, so the nonce
actually tightens that window; a client sending a request at least once a minute picks
up each new value from the ``DPoP-Nonce`` of its responses and never sees a
``use_dpop_nonce`` 401; one idle longer pays a single retry. Shorter steps would make
that retry common (and instance clock differences matter more), longer ones would add
little over the ``iat`` window.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import time
from collections.abc import Callable

DEFAULT_STEP_S = 60
MIN_SECRET_BYTES = 32
# Domain separation: the same secret could key something else one day.
_LABEL = b"cashman DPoP nonce v1\x00"
_NONCE_LENGTH = 43  # base64url of 32 bytes, unpadded


class DPoPNonces:
    """Issues and checks nonces derived from ``secret`` and the time step."""

    def __init__(
        self,
        secret: bytes,
        *,
        step_s: int = DEFAULT_STEP_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``secret`` of at least 32 bytes (RFC 2104 §3: at least the hash length);
        ``step_s`` whole seconds >= 1; ``clock`` Unix seconds. ``ValueError`` otherwise."""
        if len(secret) < MIN_SECRET_BYTES:
            raise ValueError("the nonce secret must be at least 32 bytes")
        if step_s < 1:
            raise ValueError("step_s must be at least 1 second")
        self._secret = secret
        self.step_s = step_s
        self._clock = clock
        self._memo: tuple[int, str] = (-1, "")

    def current(self) -> str:
        """The nonce of the current step: for ``DPoP-Nonce`` on every DPoP response."""
        return self._for_step(self._step())

    def is_valid(self, nonce: object) -> bool:
        """True when ``nonce`` is this or the previous step's value (constant-time compare)."""
        if not isinstance(nonce, str) or len(nonce) != _NONCE_LENGTH or not nonce.isascii():
            return False
        step = self._step()
        current = hmac.compare_digest(nonce, self._for_step(step))
        previous = hmac.compare_digest(nonce, self._for_step(step - 1))
        return current or previous

    def _step(self) -> int:
        return math.floor(self._clock() / self.step_s)

    def _for_step(self, step: int) -> str:
        memo_step, memo_nonce = self._memo  # one tuple read: safe without a lock
        if memo_step == step:
            return memo_nonce
        mac = hmac.new(self._secret, _LABEL + step.to_bytes(8, "big", signed=True), hashlib.sha256)
        nonce = base64.urlsafe_b64encode(mac.digest()).rstrip(b"=").decode("ascii")
        if step > memo_step:
            self._memo = (step, nonce)
        return nonce

    def __repr__(self) -> str:
        return f"DPoPNonces(step_s={self.step_s})"  # never the secret
