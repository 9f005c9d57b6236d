"""Where the API describes itself: ``/openapi.json`` and ``/docs`` (SPEC §4).

``/openapi.json`` is declared like every other route, so the document lists it
too; it may be cached, as it carries no caller data. ``/docs`` is Swagger UI
from the assets flask-swagger-ui ships, so it loads with no internet access; the
document lists its page too (SPEC §4: a document of every route of the table), not
the page's script and style assets.
"""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask_smorest import Api, current_api
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


def init_app(app: Flask, api: Api) -> None:
    """Swagger UI at ``/docs`` (and ``/docs/``) from local assets, reading ``/openapi.json``,
    and its page in ``api``'s document."""
    app.register_blueprint(
        get_swaggerui_blueprint(DOCS_URL, SPEC_URL, config=SWAGGER_UI_CONFIG, blueprint_name="docs")
    )
    app.add_url_rule(DOCS_URL, endpoint="docs.show")
    page = {"text/html": {"schema": {"type": "string"}}}
    (rule,) = (rule for rule in app.url_map.iter_rules() if rule.rule == DOCS_URL)
    api.spec.path(
        rule=rule,
        operations={
            "get": {
                "tags": [bp.name],
                "summary": "Interactive documentation of this API (Swagger UI, local assets).",
                "responses": {"200": {"description": "The documentation page", "content": page}},
            }
        },
    )
