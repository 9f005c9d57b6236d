"""JSON in and out without binary floating point.

Requests are parsed with ``parse_float=Decimal`` (``0.1`` stays ``0.1``);
``NaN`` and ``Infinity`` become Decimal specials that the schemas reject
with a 422. Responses render ``Decimal`` as a JSON number literal
(``0.30``), which the standard encoder cannot do, so this module writes
the JSON itself; strings still go through ``json.dumps`` for escaping.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from flask.json.provider import DefaultJSONProvider


def loads_exact(data: str | bytes) -> Any:
    """Parse JSON text; numbers with a fraction or exponent become ``Decimal``."""
    return json.loads(data, parse_float=Decimal, parse_constant=Decimal)


def dumps_exact(obj: Any, default: Any = None) -> str:
    """Compact JSON where a ``Decimal`` is a number literal, never a float or a string."""
    parts: list[str] = []
    _encode(obj, parts, default)
    return "".join(parts)


def _encode(obj: Any, out: list[str], default: Any) -> None:
    if isinstance(obj, str) or obj is None or isinstance(obj, bool | int):
        out.append(json.dumps(obj))
    elif isinstance(obj, Decimal):
        if not obj.is_finite():
            raise ValueError("non-finite Decimal is not JSON")
        out.append(format(obj, "f"))
    elif isinstance(obj, float):
        out.append(json.dumps(obj, allow_nan=False))
    elif isinstance(obj, Mapping):
        out.append("{")
        for index, (key, value) in enumerate(obj.items()):
            if index:
                out.append(",")
            out.append(json.dumps(str(key)))
            out.append(":")
            _encode(value, out, default)
        out.append("}")
    elif isinstance(obj, list | tuple):
        out.append("[")
        for index, value in enumerate(obj):
            if index:
                out.append(",")
            _encode(value, out, default)
        out.append("]")
    elif default is not None:
        _encode(default(obj), out, default)
    else:
        raise TypeError(f"{type(obj).__name__} is not JSON serializable")


class ExactJSONProvider(DefaultJSONProvider):
    """Flask JSON provider: exact decimals both ways, keys in schema order."""

    sort_keys = False

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        return dumps_exact(obj, default=self.default)

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return loads_exact(s)
