"""WSGI entry point: ``gunicorn server:app``; ``python server.py`` for development."""

from cashman import create_app

app = create_app()

if __name__ == "__main__":
    app.run(host="127.0.0.1", port=app.config["CASHMAN_SETTINGS"].port)
