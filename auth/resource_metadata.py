"""OAuth 2.0 Protected Resource Metadata (RFC 9728) for this API (SPEC §3b).

The resource identifier is ``API_BASE_URL``: one document for all of the API's paths,
as MCP servers publish it. Its URL is built as RFC 9728 §3.1 says: the well-known
path goes between the host and the base URL's own path
(``https://example.com/api`` -> ``https://example.com/.well-known/oauth-protected-resource/api``).
A client that applied §3.3 literally to each request URL (``https://example.com/api/incomes``)
would expect another ``resource`` and will not match this document.

The application serves the document at ``WELL_KNOWN_PATH`` under the base URL and, when
the base URL has a path, at ``WELL_KNOWN_PATH`` + that path too (``metadata_paths``),
so a proxy that sends the host's well-known URL to the API reaches it as well.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from auth.settings import AuthSettings

WELL_KNOWN_PATH = "/.well-known/oauth-protected-resource"


def resource_path(resource: str) -> str:
    """The path of the resource identifier without its terminating ``/`` (RFC 9728 §3.1)."""
    return urlsplit(resource).path.rstrip("/")


def metadata_url(resource: str) -> str:
    """The metadata URL of ``resource`` (RFC 9728 §3.1; ``resource_metadata``, §5.1)."""
    parts = urlsplit(resource)
    path = WELL_KNOWN_PATH + resource_path(resource)
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def metadata_paths(resource: str) -> tuple[str, ...]:
    """The request paths the application answers with the document (SPEC §3b)."""
    path = resource_path(resource)
    return (WELL_KNOWN_PATH, WELL_KNOWN_PATH + path) if path else (WELL_KNOWN_PATH,)


def metadata_document(
    settings: AuthSettings, resource: str, scopes: Iterable[str], documentation: str
) -> dict[str, Any]:
    """The RFC 9728 §2 document of ``resource``.

    ``scopes``: the scopes the API uses (``scopes_supported``); ``documentation``: the URL
    of its human-readable documentation. The DPoP members follow ``settings.dpop``: the
    proof algorithms only when DPoP is accepted, and whether it is required.
    """
    document: dict[str, Any] = {
        "resource": resource,
        "authorization_servers": list(settings.issuers),
        "scopes_supported": list(scopes),
        "bearer_methods_supported": ["header"],
    }
    if settings.dpop.is_enabled:
        document["dpop_signing_alg_values_supported"] = list(settings.dpop.auth_dpop_algorithms)
    document["dpop_bound_access_tokens_required"] = settings.dpop.auth_dpop == "required"
    document["resource_documentation"] = documentation
    return document
