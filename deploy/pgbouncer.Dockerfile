# PgBouncer from Debian's package: the same build the topology test runs.
# Its configuration is mounted (deploy/pgbouncer.ini and pgbouncer.site.ini);
# the userlist is written from the environment at start, never stored in the image.
FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends pgbouncer=1.18.* \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10002 --no-create-home --shell /usr/sbin/nologin pgbouncer
# PgBouncer refuses to run as root
USER 10002
WORKDIR /etc/pgbouncer
EXPOSE 6432
# the site file names /tmp/userlist.txt; SCRAM checks the clients' password against it
ENTRYPOINT ["/bin/sh", "-c", "umask 077 && printf '\"%s\" \"%s\"\\n' \"$PGBOUNCER_USER\" \"$PGBOUNCER_PASSWORD\" > /tmp/userlist.txt && exec pgbouncer /etc/pgbouncer/pgbouncer.ini"]
