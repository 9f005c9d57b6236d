"""A minimal Flask app built only from ``auth``: the library as any app would use it."""

from __future__ import annotations

from flask import Flask, g, request

from auth import (
    Auth,
    AuthObserver,
    AuthSettings,
    MemoryReplayStore,
    ReplayStore,
    current_claims,
    current_owner,
    requires_auth,
    requires_scope,
)

READ = "read:transactions"
WRITE = "write:transactions"


def build_app(
    settings: AuthSettings,
    *,
    replay_store: ReplayStore | None = None,
    observer: AuthObserver | None = None,
) -> Flask:
    """A tiny API: token-only routes, a read route and a write route that parses JSON.

    With DPoP on and no ``replay_store``, a fresh in-process one (a single process here).
    """
    app = Flask("auth_tests")
    if replay_store is None and settings.dpop.is_enabled:
        replay_store = MemoryReplayStore()
    Auth(settings, replay_store=replay_store, observer=observer or AuthObserver()).init_app(app)

    @app.get("/secured")
    @requires_auth
    def secured():
        return {"owner": current_owner(), "sub": current_claims()["sub"]}

    @app.get("/claims")
    @requires_auth
    def claims():
        claims = current_claims()
        return {"sub": claims["sub"], "cnf": claims.get("cnf"), "scheme": g.auth_scheme}

    @app.get("/secured/ping")
    @requires_auth
    def secured_ping():
        return {"message": "All good. You only get this message if you're authenticated."}

    @app.get("/things")
    @requires_scope(READ)
    def list_things():
        return {"owner": current_owner()}

    @app.post("/things")
    @requires_scope(WRITE)
    def create_thing():
        return {"created": request.get_json()}, 201

    return app
