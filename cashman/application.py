"""The Flask class of the app: Flask, with ``ensure_sync`` remembered per function, and
no redirect from routing.

Flask passes every hook, view and error handler through ``ensure_sync`` on every
request (flask-smorest's view wrappers once more per layer), and each call asks
``inspect`` whether the function is a coroutine function: a few microseconds each,
several times per request, for an answer that never changes. The answer is kept
per function here.

werkzeug's router answers a path it would spell otherwise (``/incomes//1``, merged
slashes; a rule's missing trailing slash) with a 308 whose page is HTML and whose
``Location`` is built from the ``Host`` header. The API answers JSON only and never
builds a URL from ``Host`` (SPEC §3a, §4), so such a path is what it is: unknown, a 404.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask, Request
from werkzeug.exceptions import NotFound
from werkzeug.routing import RequestRedirect

# functions are kept while there are fewer than this; past it (functions made per
# request, which Flask itself never passes), the answer is worked out each time
_MAX_REMEMBERED = 1024


class CashmanFlask(Flask):
    """``flask.Flask`` (same arguments) whose ``ensure_sync`` remembers its answers."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """As ``Flask(import_name, ...)``."""
        super().__init__(*args, **kwargs)
        # rules added from here on match the path as sent: without this, werkzeug reads
        # /secured//ping as /secured/ping (a redirect, or that path's 405), not as unknown
        self.url_map.merge_slashes = False
        self._sync_callables: dict[Callable[..., Any], Callable[..., Any]] = {}

    def raise_routing_exception(self, request: Request) -> Any:
        """As Flask's, but a redirect to another spelling of the path is a 404 (the JSON
        error handlers answer it): Flask would return werkzeug's HTML 308 as is."""
        if isinstance(request.routing_exception, RequestRedirect):
            raise NotFound()
        return super().raise_routing_exception(request)

    def ensure_sync(self, func: Callable[..., Any]) -> Callable[..., Any]:
        """``Flask.ensure_sync(func)``: ``func`` itself for a plain function, a
        synchronous wrapper for an ``async def`` one; worked out once per function."""
        try:
            return self._sync_callables[func]
        except KeyError:
            pass
        except TypeError:  # an unhashable callable: Flask's answer, not remembered
            return super().ensure_sync(func)
        sync = super().ensure_sync(func)
        if len(self._sync_callables) < _MAX_REMEMBERED:
            self._sync_callables[func] = sync
        return sync
