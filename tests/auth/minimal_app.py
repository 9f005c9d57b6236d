"""A minimal Flask app built only from ``auth``: the library as any app would use it."""

from __future__ import annotations

from flask import Flask, request

from auth import Auth, AuthSettings, current_claims, current_owner, requires_auth, requires_scope

READ = "read:transactions"
WRITE = "write:transactions"


def build_app(settings: AuthSettings) -> Flask:
    """A tiny API: token-only routes, a read route and a write route that parses JSON."""
    app = Flask("auth_tests")
    Auth(settings).init_app(app)

    @app.get("/secured")
    @requires_auth
    def secured():
        return {"owner": current_owner(), "sub": current_claims()["sub"]}

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
