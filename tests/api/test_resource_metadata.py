"""``GET /.well-known/oauth-protected-resource`` (SPEC §3b, RFC 9728) and the OpenAPI schemes."""

from __future__ import annotations

import pytest
from openapi_spec_validator import validate

WELL_KNOWN = "/.well-known/oauth-protected-resource"


def test_document_describes_the_api(make_client, kit):
    client = make_client(API_BASE_URL="https://api.example.com")
    resp = client.get(WELL_KNOWN)
    assert resp.status_code == 200
    assert resp.json == {
        "resource": "https://api.example.com",
        "authorization_servers": [kit.issuer],
        "scopes_supported": ["read:transactions", "write:transactions"],
        "bearer_methods_supported": ["header"],
        "dpop_signing_alg_values_supported": ["ES256"],
        "dpop_bound_access_tokens_required": False,
        "resource_documentation": "https://api.example.com/docs",
    }


def test_document_is_public(make_client):
    client = make_client(API_BASE_URL="https://api.example.com", CORS_ORIGINS="https://a.example")
    resp = client.get(WELL_KNOWN, headers={"Origin": "https://a.example"})
    assert resp.status_code == 200
    assert resp.headers["Access-Control-Allow-Origin"] == "https://a.example"


def test_required_mode_says_dpop_is_required(make_client):
    client = make_client(
        API_BASE_URL="https://api.example.com",
        AUTH_DPOP="required",
        AUTH_DPOP_ALGORITHMS="ES256,ES384",
    )
    document = client.get(WELL_KNOWN).json
    assert document["dpop_bound_access_tokens_required"] is True
    assert document["dpop_signing_alg_values_supported"] == ["ES256", "ES384"]


def test_off_mode_names_no_proof_algorithm(make_client):
    document = make_client(API_BASE_URL="https://api.example.com", AUTH_DPOP="off").get(WELL_KNOWN)
    assert document.status_code == 200
    assert "dpop_signing_alg_values_supported" not in document.json
    assert document.json["dpop_bound_access_tokens_required"] is False


def test_base_url_with_a_path_is_also_served_at_the_path_appended_url(make_client):
    client = make_client(API_BASE_URL="https://example.com/cashman/")
    for path in (WELL_KNOWN, f"{WELL_KNOWN}/cashman"):
        resp = client.get(path)
        assert resp.status_code == 200, path
        assert resp.json["resource"] == "https://example.com/cashman"
        assert resp.json["resource_documentation"] == "https://example.com/cashman/docs"
    assert client.get(f"{WELL_KNOWN}/other").status_code == 404


def test_base_url_without_a_path_has_no_path_appended_url(make_client):
    client = make_client(API_BASE_URL="https://api.example.com")
    resp = client.get(f"{WELL_KNOWN}/anything")
    assert (resp.status_code, resp.json["code"]) == (404, "not_found")


def test_production_without_base_url_answers_404(make_client):
    resp = make_client().get(WELL_KNOWN)
    assert (resp.status_code, resp.json["code"]) == (404, "not_found")


def test_development_without_base_url_describes_the_request_url(make_client):
    resp = make_client(is_development=True).get(WELL_KNOWN)
    assert resp.status_code == 200
    assert resp.json["resource"] == "http://localhost"
    assert resp.json["resource_documentation"] == "http://localhost/docs"


def test_challenges_name_the_document_that_is_served(make_client):
    client = make_client(API_BASE_URL="http://localhost/api")
    challenge = client.get("/incomes").headers["WWW-Authenticate"]
    url = "http://localhost/.well-known/oauth-protected-resource/api"
    assert challenge.count(f'resource_metadata="{url}"') == 2
    assert client.get(url.removeprefix("http://localhost")).json["resource"] == (
        "http://localhost/api"
    )


def test_base_url_is_used_in_normal_form(make_client):
    client = make_client(API_BASE_URL="HTTPS://API.Example.COM:443/api/")
    challenge = client.get("/incomes").headers["WWW-Authenticate"]
    url = "https://api.example.com/.well-known/oauth-protected-resource/api"
    assert challenge.count(f'resource_metadata="{url}"') == 2
    for path in (WELL_KNOWN, f"{WELL_KNOWN}/api"):
        document = client.get(path).json
        assert document["resource"] == "https://api.example.com/api"
        assert document["resource_documentation"] == "https://api.example.com/api/docs"


# -- OpenAPI: the security schemes of the mode --------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "schemes"),
    [
        ("allowed", {"bearerAuth", "dpopAuth"}),
        ("required", {"dpopAuth"}),
        ("off", {"bearerAuth"}),
    ],
)
def test_openapi_offers_the_schemes_of_the_mode(make_client, mode, schemes):
    spec = make_client(API_BASE_URL="https://api.example.com", AUTH_DPOP=mode).get("/openapi.json")
    document = spec.json
    assert set(document["components"]["securitySchemes"]) == schemes
    expected = [{name: ["read:transactions"]} for name in ("bearerAuth", "dpopAuth")]
    assert document["paths"]["/incomes"]["get"]["security"] == [
        requirement for requirement in expected if set(requirement) <= schemes
    ]
    assert "security" not in document["paths"][WELL_KNOWN]["get"]


@pytest.mark.parametrize("mode", ["allowed", "required", "off"])
def test_openapi_document_is_valid_in_every_dpop_mode(make_client, mode):
    client = make_client(API_BASE_URL="https://api.example.com", AUTH_DPOP=mode)
    document = client.get("/openapi.json").json
    assert document["openapi"].startswith("3.1")
    validate(document)


def test_openapi_dpop_scheme(make_client):
    document = make_client(API_BASE_URL="https://api.example.com").get("/openapi.json").json
    scheme = document["components"]["securitySchemes"]["dpopAuth"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "DPoP")
    assert "ES256" in scheme["description"] and "JWT" in scheme["description"]
    assert "bearerFormat" not in scheme


# -- the request's own URL (development server without API_BASE_URL) --------------------------

MALFORMED_HOSTS = ["a b", "", "x/y", "a,b", "user@host", "host:99999", "host:", "[::1"]


@pytest.mark.parametrize("host", MALFORMED_HOSTS)
def test_development_refuses_a_malformed_host_for_its_own_url(make_client, host):
    client = make_client(is_development=True)
    resp = client.get(WELL_KNOWN, environ_overrides={"HTTP_HOST": host})
    assert (resp.status_code, resp.json["code"]) == (400, "invalid_host")


@pytest.mark.parametrize("host", MALFORMED_HOSTS[:3])
def test_development_dpop_request_with_a_malformed_host_is_400(make_client, kit, host):
    from auth.testing import DPoPKey, dpop_headers

    key = DPoPKey()
    token = key.mint_bound(kit, scopes=["read:transactions"])
    headers = dpop_headers(token, key.proof("GET", "http://localhost/incomes", token))
    client = make_client(is_development=True)
    resp = client.get("/incomes", headers=headers, environ_overrides={"HTTP_HOST": host})
    assert (resp.status_code, resp.json["code"]) == (400, "invalid_host")
    assert "Traceback" not in resp.get_data(as_text=True)


@pytest.mark.parametrize("host", ["localhost:5000", "127.0.0.1:5077", "[::1]:5000", "my-box.lan"])
def test_development_describes_a_well_formed_host(make_client, host):
    resp = make_client(is_development=True).get(WELL_KNOWN, environ_overrides={"HTTP_HOST": host})
    assert resp.status_code == 200
    assert resp.json["resource"] == f"http://{host}"


def test_host_is_not_used_with_api_base_url(make_client):
    client = make_client(API_BASE_URL="https://api.example.com")
    resp = client.get(WELL_KNOWN, environ_overrides={"HTTP_HOST": "a b"})
    assert (resp.status_code, resp.json["resource"]) == (200, "https://api.example.com")
