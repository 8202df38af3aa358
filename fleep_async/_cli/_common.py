"""What every CLI command shares: options, exit codes, errors, the client, signals, logging."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

import anyio
import anyio.abc
import attrs

from fleep_async._cli._config import (
    SavedSession,
    default_session_path,
    delete_file,
    horizon_path,
    load_session,
    save_session,
)
from fleep_async._client import FleepClient
from fleep_async._http._urls import is_loopback_host
from fleep_async._retry import RetryPolicy
from fleep_async._session import SessionState
from fleep_async.errors import (
    AuthenticationError,
    ClusterUnavailableError,
    FleepAPIError,
    FleepError,
    TransportError,
    UsageError,
    redact,
)

__all__ = [
    "EXIT_API",
    "EXIT_AUTH",
    "EXIT_INTERRUPTED",
    "EXIT_LOCAL",
    "EXIT_NETWORK",
    "EXIT_OK",
    "EXIT_USAGE",
    "CliError",
    "Options",
    "check_base_url",
    "exit_code_for",
    "exit_code_for_signal",
    "leaf_exception",
    "open_client",
    "stop_on_signals",
]

EXIT_OK: Final = 0
EXIT_API: Final = 1
EXIT_USAGE: Final = 2
EXIT_AUTH: Final = 3
EXIT_NETWORK: Final = 4
EXIT_LOCAL: Final = 5
"""A local file or port cannot be used (a session file path, a busy port)."""
EXIT_INTERRUPTED: Final = 130
"""Ctrl-C (SIGINT); other signals exit with 128 + their number, e.g. 143 for SIGTERM."""

EXIT_CODES_HELP: Final = (
    "Exit codes: 0 ok, 1 API error, 2 bad arguments, 3 authentication failed (or not logged "
    "in), 4 cannot reach the server, 5 a local file or port cannot be used, 130 interrupted "
    "(Ctrl-C), 143 terminated (SIGTERM)."
)

DEFAULT_BASE_URL: Final = "https://fleep.io"


class CliError(Exception):
    """A failure the CLI reports in one line, with its exit code."""

    def __init__(self, message: str, exit_code: int = EXIT_API) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def exit_code_for_signal(signum: int) -> int:
    """The shell's convention for a command ended by a signal: 128 + its number."""
    return 128 + int(signum)


def leaf_exception(exc: BaseException) -> BaseException:
    """The one interesting exception inside (nested) exception groups from task groups."""
    while isinstance(exc, BaseExceptionGroup):
        inner: list[BaseException] = list(exc.exceptions)
        preferred = [e for e in inner if isinstance(e, KeyboardInterrupt | CliError)]
        exc = (preferred or inner)[0]
    return exc


def exit_code_for(exc: BaseException) -> int:
    """The exit code for an error that ended a command."""
    if isinstance(exc, CliError):
        return exc.exit_code
    if isinstance(exc, OSError):  # a local file or socket; network errors are TransportError
        return EXIT_LOCAL
    if isinstance(exc, AuthenticationError):
        return EXIT_AUTH
    if isinstance(exc, TransportError | ClusterUnavailableError):
        return EXIT_NETWORK
    if isinstance(exc, UsageError):
        return EXIT_USAGE
    return EXIT_API


def describe(exc: BaseException) -> str:
    """A one-line message for an error (secrets are already redacted by the library)."""
    if isinstance(exc, CliError):
        return str(exc)
    if isinstance(exc, AuthenticationError):
        return f"authentication failed: {exc}"
    if isinstance(exc, TransportError):
        return f"cannot reach the server: {exc}"
    if isinstance(exc, FleepAPIError):
        return f"the server refused: {exc}"
    if isinstance(exc, FleepError):
        return str(exc)
    if isinstance(exc, OSError) and exc.strerror:
        where = f": {exc.filename}" if exc.filename else ""
        return f"{exc.strerror}{where}"
    return f"{type(exc).__name__}: {exc}"


def check_session_path(path: Path) -> None:
    """Make sure the session file can be written at ``path`` (creating its directory, 0700).

    Checked before logging in, so that a bad path fails before a session is opened for nothing.

    Raises:
        CliError: the path is a directory, or its directory cannot be created or written to.
    """
    try:
        if path.is_dir():
            raise IsADirectoryError(21, "Is a directory", str(path))
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not os.access(path.parent, os.W_OK | os.X_OK):
            raise PermissionError(13, "Permission denied", str(path.parent))
    except OSError as exc:
        raise CliError(
            f"cannot store the session at {path}: {describe(exc)} "
            "(choose another place with --session-file or FLEEP_SESSION_FILE)",
            EXIT_LOCAL,
        ) from None


def check_base_url(url: str, *, allow_insecure_http: bool) -> str:
    """Return ``url`` without a trailing slash if the CLI may send credentials to it.

    Checked before asking for a password, so the refusal comes first (the client checks again).

    Raises:
        CliError: not http(s), or plain http to a non-loopback host without the override.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CliError(f"--base-url must be an http(s) URL, got {url!r}", EXIT_USAGE)
    if parts.scheme == "http" and not allow_insecure_http and not is_loopback_host(parts.hostname):
        raise CliError(
            f"refusing plain http to {parts.hostname}: credentials would travel unencrypted. "
            "Use https, or pass --allow-insecure-http if you really mean it.",
            EXIT_USAGE,
        )
    return url.rstrip("/")


@attrs.frozen(kw_only=True)
class Options:
    """The global options, resolved from arguments and environment.

    Attributes:
        base_url: the server given with ``--base-url`` or ``FLEEP_BASE_URL``, or ``None``.
        session_path: the session file.
        allow_insecure_http: allow plain http to non-loopback hosts.
        timeout: seconds per request.
        retries: retries of failed idempotent requests.
        email: ``FLEEP_EMAIL``, if set.
        password: ``FLEEP_PASSWORD``, if set (never printed).
    """

    base_url: str | None
    session_path: Path
    allow_insecure_http: bool
    timeout: float
    retries: int
    email: str | None = None
    password: str | None = attrs.field(default=None, repr=False)

    @classmethod
    def from_args(cls, args: Any, env: Mapping[str, str] | None = None) -> Options:
        """Build from parsed arguments and the environment."""
        env = os.environ if env is None else env
        base_url = args.base_url or env.get("FLEEP_BASE_URL") or None
        if base_url is not None:
            base_url = check_base_url(base_url, allow_insecure_http=args.allow_insecure_http)
        session_path = (
            Path(args.session_file).expanduser() if args.session_file else default_session_path(env)
        )
        return cls(
            base_url=base_url,
            session_path=session_path,
            allow_insecure_http=args.allow_insecure_http,
            timeout=args.timeout,
            retries=args.retries,
            email=env.get("FLEEP_EMAIL") or None,
            password=env.get("FLEEP_PASSWORD") or None,
        )

    @property
    def horizon_path(self) -> Path:
        """The event checkpoint file beside the session file."""
        return horizon_path(self.session_path)

    def client(
        self,
        base_url: str,
        *,
        email: str | None = None,
        password: str | None = None,
        session: SessionState | None = None,
        on_session_change: Callable[[SessionState | None], None] | None = None,
    ) -> FleepClient:
        """A client for ``base_url`` with this invocation's timeout, retries and http policy."""
        return FleepClient(
            email,
            password,
            base_url=base_url,
            session=session,
            timeout=self.timeout,
            retry=RetryPolicy(max_attempts=self.retries + 1),
            allow_insecure_http=self.allow_insecure_http,
            on_session_change=on_session_change,
        )


def _persister(path: Path, base_url: str) -> Callable[[SessionState | None], None]:
    """Keep the session file in step with the client: rotated tokens saved, ended ones removed."""

    def persist(state: SessionState | None) -> None:
        if state is None:
            delete_file(path)
        else:
            save_session(path, SavedSession(base_url=base_url, state=state))

    return persist


@contextlib.asynccontextmanager
async def open_client(options: Options) -> AsyncIterator[FleepClient]:
    """A logged-in client: the saved session, else ``FLEEP_EMAIL`` + ``FLEEP_PASSWORD``.

    A saved session is used only with the server it was made for: its ticket is never sent to
    another one.

    Raises:
        CliError: not logged in (exit 3), or the saved session is for another server.
        AuthenticationError: the session has expired (the file is then removed).
    """
    saved = load_session(options.session_path)
    env_login = options.email is not None and options.password is not None
    if saved is not None and options.base_url not in (None, saved.base_url):
        if not env_login:
            raise CliError(
                f"the saved session is for {saved.base_url}, not {options.base_url}; "
                "run `fleep-async login` for that server (or set FLEEP_EMAIL and "
                "FLEEP_PASSWORD)",
                EXIT_USAGE,
            )
        saved = None
    if saved is not None:
        check_base_url(saved.base_url, allow_insecure_http=options.allow_insecure_http)
        client = options.client(
            saved.base_url,
            email=options.email if env_login else None,
            password=options.password if env_login else None,
            session=saved.state,
            on_session_change=_persister(options.session_path, saved.base_url),
        )
    elif env_login:
        client = options.client(
            options.base_url or DEFAULT_BASE_URL, email=options.email, password=options.password
        )
    else:
        raise CliError(
            "not logged in: run `fleep-async login` (or set FLEEP_EMAIL and FLEEP_PASSWORD)",
            EXIT_AUTH,
        )
    try:
        async with client:
            yield client
    except BaseException as raised:
        # The failure may come wrapped in exception groups (the engine's task groups).
        exc = leaf_exception(raised)
        if isinstance(exc, AuthenticationError) and saved is not None and not env_login:
            delete_file(options.session_path)  # dead: keep no ticket that cannot be used
            raise CliError(
                f"the saved session is no longer valid ({exc}); run `fleep-async login`",
                EXIT_AUTH,
            ) from exc
        raise


@contextlib.asynccontextmanager
async def stop_on_signals(
    on_signal: Callable[[int], None],
) -> AsyncIterator[None]:
    """Call ``on_signal(signum)`` on SIGINT or SIGTERM while the block runs.

    Where signals cannot be received (not the main thread, Windows), Ctrl-C still raises
    ``KeyboardInterrupt`` as usual.
    """
    try:
        receiver = anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM)
        signals = receiver.__enter__()
    except (NotImplementedError, ValueError, RuntimeError):
        yield
        return
    try:
        async with anyio.create_task_group() as tg:

            async def relay() -> None:
                async for signum in signals:
                    on_signal(int(signum))

            tg.start_soon(relay)
            try:
                yield
            finally:
                tg.cancel_scope.cancel()
    finally:
        receiver.__exit__(None, None, None)


class _Redact(logging.Filter):
    """Scrubs recognisable secrets and known values out of every log record."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s]

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage(), self.secrets)
        record.args = None
        return True


@contextlib.contextmanager
def logging_to_stderr(verbose: bool, secrets: Iterable[str] = ()) -> Any:
    """Send the library's log to stderr for the command's duration, redacted.

    ``--verbose`` shows DEBUG; otherwise warnings and errors. httpx's own request log is kept
    quiet: its lines carry full URLs, and hook URLs are secrets.
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_Redact(secrets))
    if verbose:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    else:
        handler.setFormatter(logging.Formatter("fleep-async: %(levelname)s: %(message)s"))
    package = logging.getLogger("fleep_async")
    quiet = [logging.getLogger(name) for name in ("httpx", "httpcore")]
    saved = (package.level, package.propagate, [q.level for q in quiet])
    package.addHandler(handler)
    package.setLevel(logging.DEBUG if verbose else logging.WARNING)
    package.propagate = False
    for q in quiet:
        q.setLevel(logging.WARNING)
    try:
        yield
    finally:
        package.removeHandler(handler)
        package.setLevel(saved[0])
        package.propagate = saved[1]
        for q, level in zip(quiet, saved[2], strict=True):
            q.setLevel(level)
