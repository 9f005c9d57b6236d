"""The SPEC section 8 topology on loopback, from the repository's deploy files.

PostgreSQL (a scratch database) <- PgBouncer (``deploy/pgbouncer.ini``,
transaction pooling) <- three API instances on the production entry, two
workers each <- HAProxy (``deploy/haproxy.cfg``) <- clients. A loopback
issuer serves the key set and counts each instance's fetches. The instances
start together, so they race for the schema migration as a real deploy's do.

The topology test and the soak (``bench/soak/``) both run it; everything it
starts is stopped when the ``with`` block ends, whatever happens.
"""

from __future__ import annotations

import json
import time
from contextlib import ExitStack
from pathlib import Path

from tests.topology.database import Postgres
from tests.topology.haproxy import HAProxy
from tests.topology.instances import Instance
from tests.topology.jwks_counter import CountingIssuer
from tests.topology.pgbouncer import PgBouncer

INSTANCES = ("api1", "api2", "api3")
UP = "UP"


class Topology:
    """Start with ``with Topology(workdir, database) as topology:``; stopped at the end."""

    def __init__(
        self,
        workdir: Path,
        database: Postgres,
        *,
        workers: int = 2,
        threads: int = 4,
        min_refresh_s: int = 5,
    ) -> None:
        """``min_refresh_s``: the instances' ``JWKS_MIN_REFRESH_INTERVAL`` (the fetch bound)."""
        self.workdir = workdir
        self.database = database
        self.workers = workers
        self.threads = threads
        self.min_refresh_s = min_refresh_s
        self._stack = ExitStack()
        self.issuer = CountingIssuer()
        self.pgbouncer = PgBouncer(workdir / "pgbouncer", database)
        self.instances: dict[str, Instance] = {}
        self.haproxy: HAProxy | None = None

    @property
    def kit(self):
        """The issuer's ``AuthKit``: mint tokens the instances accept."""
        return self.issuer.kit

    @property
    def url(self) -> str:
        """Where clients go: HAProxy."""
        assert self.haproxy is not None
        return self.haproxy.url

    def __enter__(self) -> Topology:
        try:
            self._start()
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def _start(self) -> None:
        self._stack.enter_context(self.issuer)
        self._stack.enter_context(self.pgbouncer)
        env = {
            "AUTH0_ISSUER": self.issuer.issuer,
            "API_AUDIENCE": self.kit.audience,
            "DATABASE_URL": self.pgbouncer.url(),
            "JWKS_MIN_REFRESH_INTERVAL": str(self.min_refresh_s),
        }
        for name in INSTANCES:
            self.instances[name] = Instance(
                name,
                env,
                self.workdir / "instances",
                self.issuer.issuer,
                workers=self.workers,
                threads=self.threads,
            )
        self.haproxy = HAProxy(self.workdir, [i.address for i in self.instances.values()])
        # the base URL clients use, for what compares with it (DPoP htu, SPEC section 3a)
        for instance in self.instances.values():
            instance.env["API_BASE_URL"] = self.haproxy.url
        for instance in self.instances.values():
            self._stack.callback(instance.stop)
            instance.start()
        for instance in self.instances.values():
            instance.wait_ready()
        self._stack.enter_context(self.haproxy)
        for name in self.instances:
            self.haproxy.wait_state(name, UP)

    def restart(self, name: str) -> dict[str, float]:
        """Rolling restart of one instance, as an orchestrator does it.

        SIGTERM and wait for the exit, start it again, wait until it is ready and
        until HAProxy has it back in rotation. Returns the seconds each step took.
        """
        instance = self.instances[name]
        started = time.monotonic()
        status = instance.terminate()
        stopped = time.monotonic()
        if status != 0:
            raise RuntimeError(f"{name} exited {status} after SIGTERM:\n{instance.output()}")
        timings = {"stop_s": stopped - started}
        timings.update(self.bring_back(name))
        return timings

    def kill(self, name: str) -> None:
        """SIGKILL the instance's master and workers at once."""
        self.instances[name].kill()

    def bring_back(self, name: str) -> dict[str, float]:
        """Start a stopped or killed instance; wait for it and for HAProxy to use it."""
        assert self.haproxy is not None
        instance = self.instances[name]
        started = time.monotonic()
        instance.start()
        instance.wait_ready()
        ready = time.monotonic()
        self.haproxy.wait_state(name, UP)
        return {"ready_s": ready - started, "in_rotation_s": time.monotonic() - ready}

    def jwks_fetches(self) -> list[dict[str, object]]:
        """Per instance generation: its key-set fetches, lifetime and the SPEC's bound."""
        rows = []
        for instance in self.instances.values():
            for generation in instance.generations:
                lifetime = generation.lifetime_s()
                # each worker: one fetch at start, then one attempt per refresh interval at most
                bound = instance.workers * (2 + int(lifetime // self.min_refresh_s))
                rows.append(
                    {
                        "instance": f"{instance.name}/{generation.number}",
                        "fetches": self.issuer.fetches(generation.jwks_path),
                        "lifetime_s": round(lifetime, 1),
                        "bound": bound,
                    }
                )
        return rows

    def served_by(self) -> dict[str, str]:
        """Request id -> ``name/generation`` of the instance that logged it."""
        served: dict[str, str] = {}
        for instance in self.instances.values():
            for generation in instance.generations:
                for request_id in request_ids(generation.log_path):
                    served[request_id] = f"{instance.name}/{generation.number}"
        return served


def request_ids(log_path: Path) -> list[str]:
    """The ``request_id`` of every request line in an instance's log."""
    ids = []
    for line in log_path.read_text(errors="replace").splitlines():
        if not line.startswith("{"):
            continue
        try:
            record = json.loads(line)
        except ValueError:
            continue  # a line cut short by a SIGKILL
        if record.get("event") == "request" and "request_id" in record:
            ids.append(record["request_id"])
    return ids
