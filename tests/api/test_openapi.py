"""/openapi.json is a valid document of every route; /docs works offline."""

from __future__ import annotations

import json
import re

import jsonschema_rs
import pytest
from openapi_spec_validator import validate

# the Swagger UI page's own script and style files are not API routes
IGNORED_ENDPOINTS = {"static"}


@pytest.fixture
def spec(client):
    resp = client.get("/openapi.json")
    assert resp.status_code == 200
    return resp.json


def test_document_is_valid_openapi(spec):
    validate(spec)
    assert spec["openapi"].startswith("3.")


def test_every_route_is_documented_with_its_methods(app, spec):
    for rule in app.url_map.iter_rules():
        if rule.endpoint in IGNORED_ENDPOINTS or rule.rule.startswith("/docs/"):
            continue
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
        assert path in spec["paths"], path
        methods = {m.lower() for m in rule.methods - {"HEAD", "OPTIONS"}}
        assert methods <= set(spec["paths"][path]), (path, methods)


def test_bearer_scheme_and_scopes_per_operation(spec):
    assert spec["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
    }
    paths = spec["paths"]
    assert paths["/incomes"]["get"]["security"] == [{"bearerAuth": ["read:transactions"]}]
    assert paths["/incomes"]["post"]["security"] == [{"bearerAuth": ["write:transactions"]}]
    assert paths["/expenses/{tx_id}"]["delete"]["security"] == [
        {"bearerAuth": ["write:transactions"]}
    ]
    assert paths["/balance"]["get"]["security"] == [{"bearerAuth": ["read:transactions"]}]
    assert paths["/secured/ping"]["get"]["security"] == [{"bearerAuth": []}]
    assert "security" not in paths["/ping"]["get"]


@pytest.mark.parametrize(
    ("path", "method", "statuses"),
    [
        ("/incomes", "post", {"201", "400", "401", "403", "413", "415", "422", "503"}),
        ("/expenses/{tx_id}", "patch", {"200", "401", "403", "404", "413", "415", "422"}),
        ("/transactions", "get", {"200", "401", "403", "422", "503"}),
        ("/incomes/{tx_id}", "delete", {"204", "401", "403", "404"}),
    ],
)
def test_error_responses_are_documented(spec, path, method, statuses):
    responses = spec["paths"][path][method]["responses"]
    assert statuses <= set(responses)
    assert responses["401"] == {"$ref": "#/components/responses/E401"}
    schema = spec["components"]["responses"]["E401"]["content"]["application/json"]["schema"]
    assert schema == {"$ref": "#/components/schemas/ErrorOut"}


def test_list_documents_link_and_create_documents_location(spec):
    assert "Link" in spec["paths"]["/incomes"]["get"]["responses"]["200"]["headers"]
    assert "Location" in spec["paths"]["/incomes"]["post"]["responses"]["201"]["headers"]


def test_amounts_are_numbers_in_the_schemas(spec):
    schemas = spec["components"]["schemas"]
    assert schemas["TransactionOut"]["properties"]["amount"]["type"] == "number"
    assert schemas["TransactionIn"]["properties"]["amount"]["type"] == "number"


@pytest.mark.parametrize("path", ["/docs", "/docs/"])
def test_docs_page_uses_only_local_assets(client, path):
    resp = client.get(path)
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert "/openapi.json" in html
    assert not re.search(r"(src|href)=\"(https?:)?//", html)
    for asset in re.findall(r"(?:src|href)=\"(/docs/[^\"]+)\"", html):
        with client.get(asset) as asset_resp:
            assert asset_resp.status_code == 200, asset


def docs_config(html: str) -> dict:
    """The Swagger UI configuration object the /docs page passes to the bundle."""
    (config,) = re.findall(r"var user_config = (\{.*?\});", html)
    return json.loads(config)


@pytest.mark.parametrize("path", ["/docs", "/docs/"])
def test_docs_page_disables_the_online_validator(client, path):
    html = client.get(path, base_url="https://api.example.com").get_data(as_text=True)
    config = docs_config(html)
    assert "validatorUrl" in config
    assert config["validatorUrl"] is None
    assert "validator.swagger.io" not in html
    # the bundle carries the validator URL as its default; the page's own assets must not
    for asset in re.findall(r"(?:src|href)=\"(/docs/[^\"]+)\"", html):
        if asset.endswith("-bundle.js"):
            continue
        with client.get(asset) as asset_resp:
            assert b"validator.swagger.io" not in asset_resp.get_data(), asset


def resolve(spec: dict, item: dict) -> dict:
    """``item`` with a local ``$ref`` followed."""
    while "$ref" in item:
        node = spec
        for part in item["$ref"].removeprefix("#/").split("/"):
            node = node[part]
        item = node
    return item


RESPONSE_HEADERS = {
    "401": "WWW-Authenticate",
    "403": "WWW-Authenticate",
    "503": "Retry-After",
}


def test_error_responses_declare_their_headers(spec):
    seen = set()
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method == "parameters":
                continue
            for status, response in operation["responses"].items():
                if status in RESPONSE_HEADERS:
                    headers = resolve(spec, response).get("headers", {})
                    assert RESPONSE_HEADERS[status] in headers, (path, method, status)
                    seen.add(status)
    assert seen == set(RESPONSE_HEADERS)


@pytest.mark.parametrize("kind", ["incomes", "expenses"])
def test_created_and_list_responses_declare_location_and_link(spec, kind):
    assert "Location" in spec["paths"][f"/{kind}"]["post"]["responses"]["201"]["headers"]
    for path in (f"/{kind}", "/transactions"):
        assert "Link" in spec["paths"][path]["get"]["responses"]["200"]["headers"]


def test_every_schema_component_is_used(spec):
    schemas = set(spec["components"]["schemas"])
    assert "PaginationMetadata" not in schemas
    used = set(re.findall(r'"#/components/schemas/([^"]+)"', json.dumps(spec, default=str)))
    assert schemas - used == set()


def _patterns(node):
    """Every ``pattern`` of the document, wherever it is."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "pattern" and isinstance(value, str):
                yield value
            else:
                yield from _patterns(value)
    elif isinstance(node, list):
        for item in node:
            yield from _patterns(item)


def test_every_pattern_is_an_ecma_262_regex(spec):
    # JSON Schema patterns are ECMA-262 (OpenAPI 3.1 via JSON Schema 2020-12 §6.3.3):
    # Python's \Z, for one, is no anchor there, and validators refuse the schema
    patterns = list(_patterns(spec))
    assert patterns
    for pattern in patterns:
        jsonschema_rs.validator_for({"type": "string", "pattern": pattern})


def _validator(spec, schema):
    """A JSON Schema 2020-12 validator for ``schema``, its ``$ref``s into the document."""
    return jsonschema_rs.validator_for({**schema, "components": spec["components"]})


def _parameter(spec, path, method, name):
    [parameter] = [p for p in spec["paths"][path][method]["parameters"] if p["name"] == name]
    return parameter["schema"]


@pytest.mark.parametrize(
    ("key", "valid"),
    [
        ("550e8400-e29b-41d4-a716-446655440000", True),
        ("k", True),
        ("a" * 255, True),
        ("", False),
        ("a" * 256, False),
        ("a,b", False),
        ("spaces inside", False),
    ],
)
def test_documented_idempotency_key_agrees_with_the_api(spec, client, auth, key, valid):
    schema = _parameter(spec, "/incomes", "post", "Idempotency-Key")
    assert _validator(spec, schema).is_valid(key) is valid
    resp = client.post(
        "/incomes", json={"description": "x", "amount": 1}, headers={**auth, "Idempotency-Key": key}
    )
    assert (resp.status_code == 201) is valid


@pytest.mark.parametrize(
    ("schema", "body", "valid"),
    [
        ("TransactionPatch", {}, False),
        ("TransactionPatch", {"description": "x"}, True),
        ("ExpensePatch", {}, False),
        ("TransactionIn", {"description": "   ", "amount": 1}, False),
        ("TransactionIn", {"description": " x ", "amount": 1}, True),
    ],
)
def test_documented_bodies_refuse_what_the_api_refuses(spec, schema, body, valid):
    ref = {"$ref": f"#/components/schemas/{schema}"}
    assert _validator(spec, ref).is_valid(body) is valid


def test_documented_cursor_is_never_empty(spec):
    schema = _parameter(spec, "/incomes", "get", "cursor")
    assert not _validator(spec, schema).is_valid("")


@pytest.mark.parametrize(("path", "method"), [("/incomes", "post"), ("/expenses/{tx_id}", "patch")])
def test_body_operations_document_411(spec, path, method):
    assert "411" in spec["paths"][path][method]["responses"]


@pytest.mark.parametrize("path", ["/docs", "/docs/"])
def test_docs_page_behind_a_path_prefix_names_urls_under_it(make_client, path):
    # the README's proxy serves the API under /api and strips it: the browser must ask for
    # /api/docs/..., which reaches the app as /docs/...
    client = make_client(API_BASE_URL="https://api.example.com/api")
    html = client.get(path, headers={"Host": "evil.example"}).get_data(as_text=True)
    assets = re.findall(r"(?:src|href)=\"([^\"]+)\"", html)
    assert assets and all(asset.startswith("/api/docs/") for asset in assets), assets
    for asset in assets:
        with client.get(asset.removeprefix("/api")) as asset_resp:
            assert asset_resp.status_code == 200, asset
    config = docs_config(html)
    assert config["url"] == "/api/openapi.json"
    assert config["oauth2RedirectUrl"] == "https://api.example.com/api/docs/oauth2-redirect.html"
    assert "evil.example" not in html


def test_docs_page_never_names_the_host_header(client):
    html = client.get("/docs", headers={"Host": "evil.example"}).get_data(as_text=True)
    assert "evil.example" not in html
    assert docs_config(html)["oauth2RedirectUrl"] == "/docs/oauth2-redirect.html"


@pytest.mark.parametrize(
    "description",
    [
        "x",
        " x ",
        "a b",
        "\tx\n",  # trimmed away
        "\u3000x\u2028",
        "\ufeffx\ufeff",
        "é" * 200,
        "x\ty",  # a control inside the text
        "x\ny",
        "\x85x",  # U+0085 is a control, not ECMA-262 white space
        "\x1cx\x1f",
        "x\x7f",
        "\u0083",
        "   ",
        "\ufeff\ufeff",
        "",
    ],
)
def test_documented_description_agrees_with_the_api(spec, client, auth, description):
    body = {"description": description, "amount": 1}
    documented = _validator(spec, {"$ref": "#/components/schemas/TransactionIn"}).is_valid(body)
    resp = client.post("/incomes", json=body, headers=auth)
    assert (resp.status_code == 201) is documented, resp.json
