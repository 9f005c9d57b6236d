"""The project's ``.env`` file read into the environment (SPEC §2), or one line why not.

python-dotenv reads it. What it raises for a file it cannot use would reach the
operator as a stack trace: a file saved in another encoding (UTF-16 by some Windows
editors, Latin-1), a NUL byte (no environment variable can hold one), a file that
cannot be read. Each is a ``ConfigError`` naming ``.env`` instead, so every entry
stops with its one line. So is a line that is not ``KEY=value``: python-dotenv skips it
with a warning of its own (plain text, and the setting it meant silently missing);
that warning is caught here and becomes the refusal, naming the line.
"""

from __future__ import annotations

import logging
from pathlib import Path

from dotenv import load_dotenv

from auth.variables import ConfigError

ENV_FILE = ".env"
# where python-dotenv reports a line it could not parse (its ``with_warn_for_invalid_lines``)
DOTENV_LOGGER = "dotenv.main"


class _UnparsedLines(logging.Filter):
    """Keeps the line numbers python-dotenv reports as unparsable, and drops its warnings."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[object] = []

    def filter(self, record: logging.LogRecord) -> bool:
        if "could not parse" in str(record.msg):
            self.lines.append(record.args[0] if record.args else "?")
            return False
        return True


def load_env_file(path: Path) -> None:
    """Set the variables of the ``.env`` file at ``path`` that the environment does not
    set already (the environment wins); a missing file sets nothing.

    Raises ``ConfigError`` naming ``.env`` when the file is not UTF-8 text, holds a NUL
    character, holds a line that is not ``NAME=value`` or cannot be read. Variables read
    before the bad line may already be set.
    """
    unparsed = _UnparsedLines()
    dotenv_logger = logging.getLogger(DOTENV_LOGGER)
    dotenv_logger.addFilter(unparsed)
    try:
        load_dotenv(path, override=False, encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigError(
            ENV_FILE, "is not UTF-8 text (saved as UTF-16 or Latin-1?); save it as UTF-8"
        ) from None
    except ValueError:  # os.environ refuses an embedded NUL
        raise ConfigError(ENV_FILE, "a value holds a NUL character") from None
    except OSError as exc:
        problem = exc.strerror or type(exc).__name__
        raise ConfigError(ENV_FILE, f"cannot be read ({problem})") from None
    finally:
        dotenv_logger.removeFilter(unparsed)
    if unparsed.lines:
        raise ConfigError(ENV_FILE, f"line {unparsed.lines[0]} is not NAME=value (quotes closed?)")
