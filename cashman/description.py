"""A transaction's description (SPEC §4: a string of 1-200 characters after trimming),
and the OpenAPI limits that state it, so a client checking the document agrees with the API.

Decisions where the SPEC is silent: trimming is ECMA-262's (what ``String.prototype.trim``
and a JSON Schema pattern's ``\\s`` mean, not Python's ``str.strip``), and control
characters (tabs and newlines included) or lone surrogates are refused inside the text.
"""

from __future__ import annotations

import unicodedata
from typing import Any

from marshmallow import fields

MAX_DESCRIPTION = 200
_FORBIDDEN_CATEGORIES = {"Cc", "Cs"}


# What trimming removes: ECMA-262's WhiteSpace and LineTerminator (§12.2, §12.3), the set
# String.prototype.trim() removes and the pattern below names, so a client checking the
# document agrees with the API. Python's str.strip() differs both ways: it keeps U+FEFF
# and removes the controls U+001C-U+001F and U+0085 (then accepted as text around them).
ECMA_WHITESPACE = (
    "\t\n\v\f\r \xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
    "\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
)


class Description(fields.String):
    """Trimmed text of 1-200 characters without control characters."""

    default_error_messages = {
        "length": f"Must be 1 to {MAX_DESCRIPTION} characters after trimming spaces.",
        "control": "Must not contain control characters or lone surrogates.",
    }

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs).strip(ECMA_WHITESPACE)
        if not 1 <= len(text) <= MAX_DESCRIPTION:
            raise self.make_error("length")
        if any(unicodedata.category(char) in _FORBIDDEN_CATEGORIES for char in text):
            raise self.make_error("control")
        return text


def _description_pattern() -> str:
    """The ECMA-262 pattern of what ``Description`` accepts, but for its length: trimmable
    spaces around text that starts and ends with a character trimming keeps and holds no
    C0 or C1 control. Lone surrogates are refused too but not named: only ECMA-262's
    ``u`` mode could (without it, a surrogate range refuses every character beyond
    U+FFFF, emoji included, which the API accepts).
    Written with \\u escapes, which Python's ``re`` and ECMA-262 read alike, not \\s or
    \\S, which they do not (Python's \\s holds U+001C-U+001F and U+0085, not U+FEFF)."""
    space = _ranges(sorted(map(ord, ECMA_WHITESPACE)))
    control = "\\u0000-\\u001f\\u007f-\\u009f"
    kept = f"[^{space}{control}]"
    return f"^[{space}]*{kept}(?:[^{control}]*{kept})?[{space}]*$"


def _ranges(points: list[int]) -> str:
    """Sorted code points as the inside of a character class, runs of three or more as
    ranges (``\\u2000-\\u200a``)."""
    runs: list[list[int]] = []
    for point in points:
        if runs and point == runs[-1][-1] + 1:
            runs[-1].append(point)
        else:
            runs.append([point])
    return "".join(
        f"\\u{run[0]:04x}-\\u{run[-1]:04x}" if len(run) > 2 else "".join(f"\\u{p:04x}" for p in run)
        for run in runs
    )


# the document states the limits the fields enforce, so clients can check before sending:
# text as the pattern above, at most 200 characters untrimmed
TEXT_LIMITS = {"minLength": 1, "maxLength": MAX_DESCRIPTION, "pattern": _description_pattern()}
