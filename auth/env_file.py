"""The project's ``.env`` file read into the environment (SPEC §2), or one line why not.

python-dotenv reads it. What it raises for a file it cannot use would reach the
operator as a stack trace: a file saved in another encoding (UTF-16 by some Windows
editors, Latin-1), a NUL byte (no environment variable can hold one), a file that
cannot be read. Each is a ``ConfigError`` naming ``.env`` instead, so every entry
stops with its one line.
"""

from __future__ import annotations

from pathlib import Path

from dotenv import load_dotenv

from auth.variables import ConfigError

ENV_FILE = ".env"


def load_env_file(path: Path) -> None:
    """Set the variables of the ``.env`` file at ``path`` that the environment does not
    set already (the environment wins); a missing file sets nothing.

    Raises ``ConfigError`` naming ``.env`` when the file is not UTF-8 text, holds a NUL
    character or cannot be read. Variables read before the bad line may already be set.
    """
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
