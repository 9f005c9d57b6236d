"""The project's ``.env`` file read into the environment (SPEC §2), or one line why not.

python-dotenv reads it. What it raises for a file it cannot use would reach the
operator as a stack trace: a file saved in another encoding (UTF-16 by some Windows
editors, Latin-1), a NUL byte (no environment variable can hold one), a file that
cannot be read. Each is a ``ConfigError`` naming ``.env`` instead, so every entry
stops with its one line. So is a line that is not ``NAME=value`` (an unclosed quote, a bare name):
python-dotenv skips it with a plain-text warning of its own and the setting it meant is
silently missing. The file is parsed with python-dotenv's own parser first and refused
whole, before anything is set; its warning, which a logging set-up may silence, is not
what decides.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

from dotenv.parser import parse_stream

from auth.variables import ConfigError

ENV_FILE = ".env"


def load_env_file(path: Path) -> None:
    """Set the variables of the ``.env`` file at ``path`` that the environment does not
    set already (the environment wins, even with an empty value, which counts as unset);
    values are taken literally (no ``${NAME}`` expansion); a missing file sets nothing.

    Raises ``ConfigError`` naming ``.env`` when the file is not UTF-8 text, holds a line
    that is not ``NAME=value`` (nothing is set then), holds a NUL character (variables
    before it may already be set) or cannot be read.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return
    except UnicodeDecodeError:
        raise ConfigError(
            ENV_FILE, "is not UTF-8 text (saved as UTF-16 or Latin-1?); save it as UTF-8"
        ) from None
    except OSError as exc:
        problem = exc.strerror or type(exc).__name__
        raise ConfigError(ENV_FILE, f"cannot be read ({problem})") from None
    values = {}
    for binding in parse_stream(io.StringIO(text)):
        # a bare NAME is no setting: python-dotenv keeps it with no value, and the line
        # meant to set something (AUTH_DPOP, its "=required" lost) silently sets nothing
        if binding.error or (binding.key is not None and binding.value is None):
            line = binding.original.line
            raise ConfigError(ENV_FILE, f"line {line} is not NAME=value (quotes closed?)")
        if binding.key is not None:  # not a comment or a blank line; the last one wins
            # taken literally: python-dotenv's loaders would expand "${NAME}", even within
            # single quotes, so a secret or a password holding one would silently change
            values[binding.key] = binding.value
    try:
        for name, value in values.items():
            # the environment wins, even with an empty value (which counts as unset): as
            # compose and the shell have it, and the tests' way to keep a .env out
            os.environ.setdefault(name, value or "")
    except ValueError:  # os.environ refuses an embedded NUL
        raise ConfigError(ENV_FILE, "a value holds a NUL character") from None
