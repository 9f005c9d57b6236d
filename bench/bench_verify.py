"""Micro-benchmark: cost of ``TokenVerifier.verify`` against a bare RSA signature check.

In process, no network (the JWKS is served once through ``responses``). For N
distinct RS256 tokens it times, per token:

  (a) ``TokenVerifier.verify`` with a warm JWKS and the token cache disabled;
  (b) a bare ``cryptography`` ``public_key.verify(sig, signing_input, PKCS1v15(), SHA256())``
      of the same tokens (the floor: the signature check alone);
  (c) ``TokenVerifier.verify`` of a token already in the verified-token cache;
  (d) python-jose ``jwt.decode`` with the JWK dict, for reference.

The variants run side by side in every round (order rotated), and the table
reports the median per-token time over the rounds, in microseconds, with the
ratios to (b). Target: (a)/(b) <= 1.5.

    python bench/bench_verify.py [--rounds 9] [--tokens 200] [--quick]
"""

from __future__ import annotations

import argparse
import base64
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import responses
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from jose import jwt

from auth.testing import AuthKit
from auth.verify import TokenVerifier


def b64decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def per_token_ns(run: Callable[[], int]) -> float:
    """Time ``run`` (which processes and returns a count of tokens) -> ns per token."""
    start = time.perf_counter_ns()
    count = run()
    return (time.perf_counter_ns() - start) / count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--tokens", type=int, default=300)
    parser.add_argument("--quick", action="store_true", help="3 rounds of 30 tokens (CI smoke)")
    args = parser.parse_args()
    rounds, n = (3, 30) if args.quick else (max(args.rounds, 1), max(args.tokens, 1))

    kit = AuthKit()
    tokens = [kit.mint(sub=f"user-{i}", scopes=["read:transactions"]) for i in range(n)]
    public_key = kit.key.public_key()
    split = [t.rsplit(".", 1) for t in tokens]
    bare_inputs = [(b64decode(sig), signing_input.encode()) for signing_input, sig in split]
    jwk_dict = kit.jwks()["keys"][0]
    pkcs1, sha256 = padding.PKCS1v15(), hashes.SHA256()

    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        kit.publish(rsps)
        uncached = TokenVerifier(kit.settings(token_cache_size=0))
        cached = TokenVerifier(kit.settings())
        uncached.verify(tokens[0])  # warm the JWKS
        hit = tokens[0]
        cached.verify(hit)

        def run_verify() -> int:
            for token in tokens:
                uncached.verify(token)
            return n

        def run_bare() -> int:
            for signature, signing_input in bare_inputs:
                public_key.verify(signature, signing_input, pkcs1, sha256)
            return n

        def run_hit() -> int:
            for _ in range(n):
                cached.verify(hit)
            return n

        def run_jose() -> int:
            for token in tokens:
                jwt.decode(
                    token,
                    jwk_dict,
                    algorithms=["RS256"],
                    audience=kit.audience,
                    issuer=kit.issuer,
                )
            return n

        variants = {
            "(a) TokenVerifier.verify, no token cache": run_verify,
            "(b) bare cryptography RSA verify": run_bare,
            "(c) TokenVerifier.verify, cache hit": run_hit,
            "(d) python-jose jwt.decode (JWK dict)": run_jose,
        }
        for run in variants.values():  # warm-up
            run()
        samples: dict[str, list[float]] = {name: [] for name in variants}
        names = list(variants)
        for i in range(rounds):
            order = names[i % len(names) :] + names[: i % len(names)]
            for name in order:
                samples[name].append(per_token_ns(variants[name]))

    a_name, b_name = names[0], names[1]
    medians = {name: statistics.median(values) / 1000 for name, values in samples.items()}
    best = {name: min(values) / 1000 for name, values in samples.items()}
    # Each round measures (a) and (b) side by side: their ratio cancels slow phases of a
    # shared machine better than a ratio of medians taken over different moments.
    paired = statistics.median(a / b for a, b in zip(samples[a_name], samples[b_name], strict=True))
    print(f"{n} distinct RS256 tokens (2048-bit key), {rounds} rounds, per token")
    print(f"{'variant':44} {'median us':>10} {'vs (b)':>7} {'best us':>9} {'vs (b)':>7}")
    for name in names:
        print(
            f"{name:44} {medians[name]:10.1f} {medians[name] / medians[b_name]:6.2f}x"
            f" {best[name]:9.1f} {best[name] / best[b_name]:6.2f}x"
        )
    print(
        f"(a)/(b): median of per-round ratios {paired:.2f}x, "
        f"ratio of medians {medians[a_name] / medians[b_name]:.2f}x (target <= 1.5x)"
    )


if __name__ == "__main__":
    main()
