"""schemathesis against ``/openapi.json``: every operation, valid and invalid requests.

Requests are generated from the document itself and sent to the WSGI app
with a token holding both scopes (the JWKS is served through ``responses``).
Checks: no 5xx, every status code is one the document declares for that
operation, and every body, content type and declared header matches the
document. Not checked: "schema-valid data is accepted", because the list
``cursor`` is opaque (any string is schema-valid, only the API's own cursors
are accepted; a 422 for the others is the intended answer).
"""

from __future__ import annotations

import tempfile

import pytest
import responses
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import checks

from auth.testing import AuthKit
from cashman import create_app
from cashman.config import Settings
from tests.fuzz.strategies import COLLECTED_TOKEN_LIFETIME_S

KIT = AuthKit()
TOKEN = KIT.mint(
    scopes=["read:transactions", "write:transactions"], expires_in=COLLECTED_TOKEN_LIFETIME_S
)
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
    checks.response_headers_conformance,
]


# built at import: schemathesis's parametrization needs the document at collection time
# (its lazy fixture loader does not support this pytest)
_TMP = tempfile.TemporaryDirectory(prefix="cashman-schemathesis-")
APP = create_app(
    Settings.from_env({**KIT.env(), "DATABASE_URL": f"sqlite:///{_TMP.name}/cashman.db"})
)
schema = schemathesis.openapi.from_wsgi("/openapi.json", APP)


@pytest.fixture(scope="module", autouse=True)
def issuer():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        KIT.publish(rsps)
        yield rsps
    APP.extensions["cashman.db"].dispose()
    _TMP.cleanup()


@schema.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_openapi_operations_conform_and_never_5xx(case):
    case.call_and_validate(headers={"Authorization": f"Bearer {TOKEN}"}, checks=CHECKS)
