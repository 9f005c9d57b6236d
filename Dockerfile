# Production image: python -m cashman.serve (granian) as a non-root user, with a
# HEALTHCHECK. Only runtime dependencies (requirements.lock, hash-checked) and the
# app code reach the final stage: no build tools, no tests, no test dependencies,
# and no way to start the development issuer (the production entries refuse its
# switch). gunicorn server:app stays available: override CMD to use it.

FROM python:3.11-slim AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
COPY requirements-bootstrap.lock requirements.lock /tmp/
# the lock's own pip first (hash-checked): the base image's pip may be too old for the lock
RUN python -m venv /opt/venv \
    && /opt/venv/bin/python -m pip install --no-cache-dir --require-hashes \
        -r /tmp/requirements-bootstrap.lock \
    && /opt/venv/bin/python -m pip install --no-cache-dir --require-hashes \
        -r /tmp/requirements.lock

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH="/opt/venv/bin:${PATH}" \
    PORT=8000
RUN groupadd --system --gid 10001 cashman \
    && useradd --system --uid 10001 --gid cashman --no-create-home --home-dir /app \
        --shell /usr/sbin/nologin cashman
WORKDIR /app
COPY --from=builder /opt/venv /opt/venv
COPY server.py gunicorn.conf.py ./
COPY auth ./auth
COPY cashman ./cashman
# the default SQLite database lives under instance/: the only path the app writes
RUN mkdir /app/instance && chown 10001:10001 /app/instance
USER 10001:10001
EXPOSE 8000
# probes where the server listens: BIND when it is host:port (an any-address host
# probed on loopback), else PORT, else 5000 (the server's own default)
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, re, urllib.request; m = re.fullmatch(r'(\\[[0-9A-Fa-f:.]+\\]|[A-Za-z0-9.-]+):([0-9]+)', os.environ.get('BIND', '').strip()); host = {'0.0.0.0': '127.0.0.1', '[::]': '[::1]'}.get(m.group(1), m.group(1)) if m else '127.0.0.1'; port = m.group(2) if m else os.environ.get('PORT', '').strip() or '5000'; urllib.request.urlopen('http://%s:%s/ping' % (host, port), timeout=4)"]
# exec form: the server is PID 1 and gets docker stop's SIGTERM itself (it drains)
CMD ["python", "-m", "cashman.serve"]
