"""Application settings, read once from the environment at start-up.

A bad variable stops start-up with one line naming it (``ConfigError``),
never a stack trace. Auth settings are delegated to ``auth.AuthSettings``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from auth import AuthSettings, ConfigError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = f"sqlite:///{PROJECT_ROOT / 'instance' / 'cashman.db'}"


@dataclass(frozen=True)
class Settings:
    auth: AuthSettings
    database_url: str = DEFAULT_DATABASE_URL
    cors_origins: tuple[str, ...] = ()
    port: int = 5000
    extra: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Build settings from ``env`` (default: the process environment)."""
        env = os.environ if env is None else env
        origins = tuple(o.strip() for o in env.get("CORS_ORIGINS", "").split(",") if o.strip())
        port_text = env.get("PORT", "5000")
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise ConfigError("PORT", "must be a TCP port number (1-65535)")
        return cls(
            auth=AuthSettings.from_env(env),
            database_url=env.get("DATABASE_URL") or DEFAULT_DATABASE_URL,
            cors_origins=origins,
            port=int(port_text),
        )
