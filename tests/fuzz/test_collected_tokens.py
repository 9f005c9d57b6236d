"""Tokens the fuzz modules mint when pytest imports them outlive any run.

They are minted at collection and used until the module's last example, which in a
full suite on a slow machine ran more than the kit's default 5 minutes later: every
request was then a 401 ``token_expired`` instead of the property under test.
"""

from __future__ import annotations

import time

import pytest
from jose import jwt

from tests.fuzz import test_body_properties, test_openapi_schemathesis, test_token_properties

CI_LIMIT_S = 30 * 60


@pytest.mark.parametrize(
    "token",
    [test_body_properties.TOKEN, test_openapi_schemathesis.TOKEN, test_token_properties.VALID],
    ids=["body", "schemathesis", "token"],
)
def test_a_token_minted_at_collection_outlives_a_whole_run(token):
    claims = jwt.get_unverified_claims(token)
    assert claims["exp"] - time.time() > 2 * CI_LIMIT_S
