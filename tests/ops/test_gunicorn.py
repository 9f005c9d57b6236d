"""``gunicorn.conf.py`` as gunicorn reads it: SPEC §2 names, the older ``GUNICORN_*`` aliases.

What both servers guarantee is tested on both in ``test_server_*.py``; this
file checks the values the configuration file hands to gunicorn.
"""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.support.processes import PYTHON, ROOT, hermetic_env

pytestmark = pytest.mark.slow

AUDIENCE = "https://api.cashman.test/"
CONF_KEYS = (
    "bind",
    "workers",
    "worker_class",
    "threads",
    "timeout",
    "graceful_timeout",
    "keepalive",
    "limit_request_line",
    "limit_request_field_size",
    "limit_request_fields",
    "accesslog",
)


def conf_values(tmp_path, **env: str) -> dict[str, object]:
    """gunicorn.conf.py's settings as gunicorn would read them with ``env``."""
    code = (
        "import json, runpy; ns = runpy.run_path('gunicorn.conf.py'); "
        f"print(json.dumps({{k: ns[k] for k in {CONF_KEYS!r}}}))"
    )
    out = subprocess.run(
        [PYTHON, "-c", code],
        cwd=ROOT,
        env=hermetic_env(
            tmp_path, AUTH0_DOMAIN="example.us.auth0.com", API_AUDIENCE=AUDIENCE, **env
        ),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(out.stdout)


def test_gunicorn_conf_defaults(tmp_path):
    conf = conf_values(tmp_path)
    assert conf["bind"] == "0.0.0.0:5000"  # SPEC §2: BIND 0.0.0.0:$PORT, PORT 5000
    # gthread, reading request heads without a thread (cashman.gunicorn_worker)
    worker_class = "cashman.gunicorn_worker.HeadReadingWorker"
    assert (conf["worker_class"], conf["threads"], conf["accesslog"]) == (worker_class, 4, None)
    assert 3 <= conf["workers"] <= 12
    assert conf["limit_request_line"] == 8190
    assert conf["limit_request_field_size"] >= 16384
    assert conf["timeout"] > 0 and conf["graceful_timeout"] > 0 and conf["keepalive"] > 0


@pytest.mark.parametrize(
    ("env", "key", "value"),
    [
        ({"PORT": "9000"}, "bind", "0.0.0.0:9000"),
        ({"BIND": "127.0.0.1:7000"}, "bind", "127.0.0.1:7000"),
        ({"BIND": "[::1]:7000"}, "bind", "[::1]:7000"),
        ({"BIND": "localhost:7000"}, "bind", "127.0.0.1:7000"),
        ({"BIND": "127.0.0.1:7000", "PORT": "9000"}, "bind", "127.0.0.1:7000"),
        ({"GUNICORN_BIND": "127.0.0.1:7001"}, "bind", "127.0.0.1:7001"),
        ({"GUNICORN_BIND": "127.0.0.1:7001", "BIND": "127.0.0.1:7000"}, "bind", "127.0.0.1:7001"),
        ({"WEB_CONCURRENCY": "5"}, "workers", 5),
        ({"GUNICORN_WORKERS": "3"}, "workers", 3),
        ({"GUNICORN_WORKERS": "2", "WEB_CONCURRENCY": "5"}, "workers", 2),
        ({"WEB_THREADS": "6"}, "threads", 6),
        ({"GUNICORN_THREADS": "8"}, "threads", 8),
        ({"GUNICORN_THREADS": "8", "WEB_THREADS": "6"}, "threads", 8),
    ],
)
def test_gunicorn_conf_reads_the_environment(tmp_path, env, key, value):
    assert conf_values(tmp_path, **env)[key] == value
