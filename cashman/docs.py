"""Where the API describes itself: ``/openapi.json`` and ``/docs`` (SPEC §4).

``/openapi.json`` is declared like every other route, so the document lists it
too; it may be cached, as it carries no caller data. ``/docs`` is Swagger UI
from the assets flask-swagger-ui ships, so it loads with no internet access.
"""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask_smorest import current_api
from flask_swagger_ui import get_swaggerui_blueprint

from cashman.blueprint import Blueprint

DOCS_URL = "/docs"
SPEC_URL = "/openapi.json"
# validatorUrl null: Swagger UI's default sends the spec URL to validator.swagger.io from
# any host but localhost, which leaks it and breaks the docs offline
SWAGGER_UI_CONFIG: dict[str, Any] = {"app_name": "Cashman API", "validatorUrl": None}

bp = Blueprint("openapi", __name__, description="This API's own description.")


@bp.get(SPEC_URL)
@bp.alt_response(200, description="This document", success=True)
def get_document() -> dict[str, Any]:
    """The OpenAPI document of this API."""
    return current_api.spec.to_dict()


def init_app(app: Flask) -> None:
    """Swagger UI at ``/docs`` (and ``/docs/``) from local assets, reading ``/openapi.json``."""
    app.register_blueprint(
        get_swaggerui_blueprint(DOCS_URL, SPEC_URL, config=SWAGGER_UI_CONFIG, blueprint_name="docs")
    )
    app.add_url_rule(DOCS_URL, endpoint="docs.show")
