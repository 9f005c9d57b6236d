"""Make a DPoP proof for one request from the command line (RFC 9449 §4; development).

A DPoP-bound token is useless without a fresh proof per request, signed by the key the
token is bound to. This prints the ``DPoP`` header value for a ``curl`` line::

    TOKEN=$(python -m auth.dev_issuer --dpop-key instance/dev-dpop-key.pem)
    curl -H "Authorization: DPoP $TOKEN" \\
         -H "DPoP: $(python -m auth.dpop_proof --method GET \\
                    --url http://127.0.0.1:5000/incomes --token $TOKEN)" \\
         http://127.0.0.1:5000/incomes

The key is an EC P-256 private key in a PEM file (``--key``; default the development
client's, ``instance/dev-dpop-key.pem`` beside the development issuer's key), created
with mode 0600 on first use. Each run makes a new ``jti``: the API refuses a proof it
has seen. With server nonces on, pass the ``DPoP-Nonce`` the API answered (``--nonce``).
The proof is made by the test kit's ``DPoPKey``, the same code the project's tests use.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from auth.dev_issuer import dpop_key_file, private_key_from_pem, write_new_key
from auth.env_file import load_env_file
from auth.testing import DPoPKey, generate_ec_key
from auth.variables import ConfigError

# RFC 9110 §9.1 and §5.6.2: a method is a token
_METHOD = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_COMPACT = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")


def load_key(path: Path) -> DPoPKey:
    """The ES256 DPoP key in ``path``, created there (mode 0600) when missing.

    Raises ``ValueError`` when the file holds anything but an EC P-256 private key,
    ``OSError`` when it cannot be read or written.
    """
    from cryptography.hazmat.primitives.asymmetric import ec

    if not path.exists():
        write_new_key(path, generate_ec_key("ES256"))
    key = private_key_from_pem(path.read_bytes(), path)
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise ValueError(f"{path} does not hold an EC P-256 private key")
    return DPoPKey("ES256", key)


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: print one proof (the ``DPoP`` header value) on stdout."""
    parser = argparse.ArgumentParser(
        prog="python -m auth.dpop_proof",
        description="Print a DPoP proof (the DPoP header value) for one request.",
    )
    parser.add_argument("--method", required=True, help="the request method (htm), e.g. GET")
    parser.add_argument(
        "--url", required=True, help="the request URL (htu); its query is not part of it"
    )
    parser.add_argument("--token", help="the access token, for ath (omit for a token request)")
    parser.add_argument("--nonce", help="the server's DPoP-Nonce, when it asks for one")
    parser.add_argument(
        "--key",
        type=Path,
        default=None,
        help="EC P-256 private key file (created if missing; default: the development "
        "client's, beside DEV_ISSUER_KEY_FILE)",
    )
    args = parser.parse_args(argv)
    # a proof for any of these could never match, and a non-ASCII token is no JWS: refused
    # here rather than printed (or a traceback)
    if not _METHOD.fullmatch(args.method):
        parser.error("--method: must be an HTTP method such as GET or POST")
    try:
        parts = urlsplit(args.url)
        parts.port  # noqa: B018 - ValueError for a port out of range
    except ValueError:  # an unclosed IPv6 bracket, a port past 65535
        parts = None
    if parts is None or parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        parser.error("--url: must be an absolute http:// or https:// URL")
    if args.token is not None and not _COMPACT.fullmatch(args.token):
        parser.error("--token: must be the access token, a compact JWS (ASCII)")
    try:
        load_env_file(Path(__file__).resolve().parent.parent / ".env")
        key = load_key(args.key or dpop_key_file())
    except (ConfigError, OSError, ValueError) as exc:
        print(f"auth.dpop_proof: {exc}", file=sys.stderr)
        return 2
    # RFC 9449 §4.2: htu is the URI without query and fragment
    htu = urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
    print(key.proof(args.method.upper(), htu, args.token, nonce=args.nonce))
    return 0


if __name__ == "__main__":
    sys.exit(main())
