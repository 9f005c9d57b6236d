"""DPoP loads for wrk: one fresh proof per request, written before the run (RFC 9449).

wrk cannot sign ES256, and the API accepts a proof once, so a DPoP run needs as many
proofs as it will send requests, made in this process before wrk starts (client work,
not timed: the server CPU is read around wrk alone). ``wrk/requests.lua`` reads a line
``TOKEN<TAB>PROOF`` as ``Authorization: DPoP TOKEN`` plus ``DPoP: PROOF``.
"""

from __future__ import annotations

import time
from pathlib import Path

from .load import Load


def write_proofs(path: Path, key, token: str, method: str, htu: str, count: int) -> Path:
    """``count`` lines ``token<TAB>proof``, each proof fresh (own ``jti``) for ``htu``.

    They share one ``iat``: the file must be sent within ``AUTH_DPOP_MAX_AGE`` (300 s).
    """
    now = time.time()
    lines = [f"{token}\t{key.proof(method, htu, token, now=now)}\n" for _ in range(count)]
    path.write_text("".join(lines), encoding="ascii")
    return path


def dpop_load(
    name: str, tmp: Path, key, token: str, method: str, path: str, htu: str, count: int
) -> Load:
    """A wrk ``Load`` of ``count`` DPoP requests ``method path``, proofs made for ``htu``."""
    tokens = write_proofs(tmp / f"{name}.proofs", key, token, method, htu, count)
    return Load(name, method=method, path=path, tokens=tokens)
