"""The ``<txid:...>`` URL converter: every id-shaped path segment reaches the view (SPEC §4).

werkzeug's ``int(max=...)`` refuses ``01`` or a 20-digit number by not matching
the rule, and a rule that does not match answers 404 or 405 depending on the
method. An id that cannot name a row must be a plain 404 for GET, PATCH and
DELETE alike, and 405 only for methods the route lacks. So any (signed)
decimal segment matches; one that is not the canonical form of a storable id
becomes ``ABSENT_ID``, which no row has (ids start at 1).
"""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask_smorest import Api
from werkzeug.routing import BaseConverter

from cashman.models import MAX_ID

ABSENT_ID = 0


class TransactionIdConverter(BaseConverter):
    """A decimal id; non-canonical or out-of-range ones convert to ``ABSENT_ID``."""

    regex = r"-?[0-9]+"
    weight = 50
    part_isolating = True

    def to_python(self, value: str) -> int:
        """The id ``value`` names, or ``ABSENT_ID``."""
        # canonical only: "01" or "-0" must not alias id 1 or 0
        if value.startswith(("0", "-")) or len(value) > len(str(MAX_ID)):
            return ABSENT_ID
        number = int(value)
        return number if number <= MAX_ID else ABSENT_ID

    def to_url(self, value: Any) -> str:
        """An id as its canonical decimal text."""
        return str(int(value))


def id_parameter_schema(_converter: BaseConverter) -> dict[str, Any]:
    """How the OpenAPI document describes a ``txid`` path parameter."""
    return {"type": "integer", "minimum": 1, "maximum": MAX_ID}


def register_converters(app: Flask, api: Api) -> None:
    """Make ``<txid:...>`` usable in routes and documented as an integer."""
    app.url_map.converters["txid"] = TransactionIdConverter
    api.register_converter(TransactionIdConverter, id_parameter_schema)
