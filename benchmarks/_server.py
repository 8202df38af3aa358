"""FakeFleep in a child process, for the benchmarks that go over loopback (P2, P3, P5).

The server runs in its own process (``python -m fleep_async.testing serve``) so that its CPU is
not billed to the client under test: on a 2-core machine the server gets one core and the
client the other. The admin routes (``/_fakefleep/state``) create accounts, conversations and
"human" posts from outside.
"""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from typing import IO, Any

import httpx
import orjson

__all__ = ["ServerProcess", "process_cpu_seconds"]

_CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def process_cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of process ``pid`` (Linux ``/proc``), or ``None``."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            fields = handle.read().rsplit(b")", 1)[1].split()
    except OSError:
        return None
    # After the ")" that ends the command name: field 3 is index 0, utime is 14, stime 15.
    return (int(fields[11]) + int(fields[12])) / _CLK_TCK


class ServerProcess:
    """A FakeFleep server in a child process; a context manager.

    Args:
        hold_seconds: the long-poll hold of the server.
        accounts: ``(email, password, display_name)`` created at start.
        start_timeout: seconds to wait for the server to listen.
    """

    def __init__(
        self,
        *,
        hold_seconds: float = 30.0,
        accounts: Sequence[tuple[str, str, str]] = (),
        start_timeout: float = 30.0,
    ) -> None:
        self.hold_seconds = hold_seconds
        self.accounts = list(accounts)
        self.start_timeout = start_timeout
        self.base_url = ""
        self._proc: subprocess.Popen[bytes] | None = None
        self._stderr: IO[bytes] | None = None
        self._reader: threading.Thread | None = None
        self._pid: int | None = None

    @classmethod
    def attach(cls, base_url: str, pid: int) -> ServerProcess:
        """A handle on a server another process started (admin calls and CPU time only)."""
        server = cls()
        server.base_url = base_url
        server._pid = pid
        return server

    @property
    def pid(self) -> int:
        """The server's process id."""
        if self._proc is not None:
            return self._proc.pid
        assert self._pid is not None, "not started"
        return self._pid

    def cpu_seconds(self) -> float:
        """CPU seconds the server process has used so far."""
        return process_cpu_seconds(self.pid) or 0.0

    def start(self) -> None:
        """Start the child and wait until it listens."""
        cmd = [
            sys.executable,
            "-m",
            "fleep_async.testing",
            "serve",
            "--port",
            "0",
            "--hold-seconds",
            repr(self.hold_seconds),
        ]
        for email, password, name in self.accounts:
            cmd += ["--account", f"{email}:{password}:{name}"]
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        # stderr to a file, not a pipe: a pipe nobody reads blocks a chatty server.
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - closed by stop()
        self._proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self._stderr, env=env)
        lines: queue.Queue[bytes] = queue.Queue()
        stdout = self._proc.stdout
        assert stdout is not None

        def reader() -> None:
            for line in stdout:
                lines.put(line)

        self._reader = threading.Thread(target=reader, name="fakefleep-stdout", daemon=True)
        self._reader.start()
        deadline = time.monotonic() + self.start_timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self._proc.poll() is not None:
                detail = self.stderr_tail()
                self.stop()
                msg = f"the FakeFleep server did not start: {detail}"
                raise RuntimeError(msg)
            try:
                line = lines.get(timeout=min(remaining, 0.5)).decode()
            except queue.Empty:
                continue
            if "listening on" in line:
                self.base_url = line.rsplit(" ", 1)[1].strip()
                return

    def stop(self) -> None:
        """Stop the child (SIGTERM, then SIGKILL after 10 s)."""
        proc = self._proc
        if proc is None:
            return
        self._proc = None
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        # The reader thread ends at EOF once the child is gone; close the pipe after it.
        if self._reader is not None:
            self._reader.join(5)
            self._reader = None
        if proc.stdout is not None:
            proc.stdout.close()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    def stderr_tail(self, limit: int = 2000) -> str:
        """The end of what the server wrote to stderr."""
        if self._stderr is None:
            return ""
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace")[-limit:]

    def __enter__(self) -> ServerProcess:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- admin routes ----------------------------------------------------------------------

    def admin(self, action: str, **fields: Any) -> dict[str, Any]:
        """``POST /_fakefleep/state`` with ``{"action": action, **fields}`` (blocking)."""
        response = httpx.post(
            self.base_url + "/_fakefleep/state",
            content=orjson.dumps({"action": action, **fields}),
            headers={"Content-Type": "application/json"},
            timeout=30.0,
        )
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def state(self) -> dict[str, Any]:
        """``GET /_fakefleep/state``: accounts, conversations, parked polls."""
        response = httpx.get(self.base_url + "/_fakefleep/state", timeout=30.0)
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result
