"""The ``ecdsa`` advisory (Minerva, a timing leak while *signing*) cannot reach Cashman.

Cashman only verifies. python-jose's RSA and EC key classes must be its
``cryptography`` backend ones, so verification never runs ``ecdsa`` code:
after verifying an ES256 token the ``ecdsa`` module is not even imported.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from jose import jwk
from jose.backends import cryptography_backend

from auth.settings import check_jose_backend


def test_jose_key_classes_are_the_cryptography_backend():
    assert jwk.RSAKey is cryptography_backend.CryptographyRSAKey
    assert jwk.ECKey is cryptography_backend.CryptographyECKey
    check_jose_backend()  # the start-up check agrees


def test_es256_verification_never_imports_ecdsa():
    script = textwrap.dedent(
        """
        import sys
        import responses
        from auth import TokenVerifier
        from auth.testing import AuthKit, generate_ec_key

        kit = AuthKit()
        kit.add_key("ec-1", key=generate_ec_key("ES256"), alg="ES256")
        verifier = TokenVerifier(kit.settings(auth_algorithms=("RS256", "ES256")))
        with responses.RequestsMock() as rsps:
            kit.publish(rsps)
            claims = verifier.verify(kit.mint(kid="ec-1", alg="ES256", sub="ec-user"))
        assert claims["sub"] == "ec-user", claims
        print("ecdsa" in sys.modules)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert result.stdout.strip() == "False", result.stderr
