"""What the app tells whoever listens (metrics), without knowing who does (SPEC §6).

Blinker signals, as Flask's own: a signal with no receiver costs a function
call, so the places that send them stay free of any metrics library. Sent
with the app as sender:

- ``database_error``: a request ended on a database failure, the app's or the DPoP
  replay store's (``error``: the exception's class name, SQLAlchemy's or the driver's,
  never its text);
- ``idempotent_replay``: a POST with a known ``Idempotency-Key`` was answered
  with the first response (SPEC §4, Retries).
"""

from __future__ import annotations

from blinker import Namespace

_signals = Namespace()

database_error = _signals.signal("cashman.database-error")
idempotent_replay = _signals.signal("cashman.idempotent-replay")
