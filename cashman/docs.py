"""Where the API describes itself: ``/openapi.json`` and ``/docs`` (SPEC §4).

``/openapi.json`` is declared like every other route, so the document lists it
too; it may be cached, as it carries no caller data. ``/docs`` is Swagger UI
from the assets flask-swagger-ui ships, so it loads with no internet access; the
document lists its page too (SPEC §4: a document of every route of the table), not
the page's script and style assets.

The page names its assets, the document and Swagger UI's OAuth2 redirect page by URLs
under ``API_BASE_URL``'s path when it has one: behind a proxy that serves the API under
``/api`` and strips that prefix, the app's ``/docs/...`` is the browser's
``/api/docs/...``. None of them is built from the request's ``Host`` (flask-swagger-ui's
default for the redirect page).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import Flask
from flask_smorest import Api, current_api
from flask_swagger_ui import get_swaggerui_blueprint

from auth.htu import request_htu
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


def init_app(app: Flask, api: Api, api_base_url: str | None = None) -> None:
    """Swagger UI at ``/docs`` (and ``/docs/``) from local assets, reading ``/openapi.json``,
    and its page in ``api``'s document. ``api_base_url``: ``API_BASE_URL`` (SPEC §3a), whose
    path prefixes the URLs the page names; its scheme and host make the OAuth2 redirect
    page's URL absolute."""
    prefix = urlsplit(api_base_url).path.rstrip("/") if api_base_url else ""
    redirect_page = DOCS_URL + "/oauth2-redirect.html"
    if api_base_url:  # the join Location and Link use (cashman.locations)
        redirect_page = request_htu(api_base_url, redirect_page)
    config = {**SWAGGER_UI_CONFIG, "oauth2RedirectUrl": redirect_page}
    page = get_swaggerui_blueprint(
        prefix + DOCS_URL, prefix + SPEC_URL, config=config, blueprint_name="docs"
    )
    # served at /docs: the proxy took the prefix away before the app sees the path
    app.register_blueprint(page, url_prefix=DOCS_URL)
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
