"""Where the CLI keeps its session, and how it writes it (owner-only, atomically).

The session file holds the server's base URL and the :class:`~fleep_async._session.SessionState`
(account id, ticket, token_id, name, email): enough to resume without the password, which is
never written anywhere. The file is created with mode 0600 from the start (``os.open`` with the
mode, never a chmod after the fact), in a directory created 0700, and replaced atomically.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Final

import attrs

from fleep_async._session import SessionState
from fleep_async.errors import UsageError

__all__ = [
    "SESSION_FILE_ENV",
    "SavedSession",
    "default_session_path",
    "delete_file",
    "horizon_path",
    "load_session",
    "save_session",
]

SESSION_FILE_ENV: Final = "FLEEP_SESSION_FILE"
_APP_DIR: Final = "fleep-async"
_FORMAT: Final = 1


def default_session_path(
    env: Mapping[str, str] | None = None,
    *,
    platform: str | None = None,
    home: Path | None = None,
) -> Path:
    """Where the session is kept unless ``--session-file`` says otherwise.

    ``$FLEEP_SESSION_FILE`` if set; else ``fleep-async/session.json`` in the platform's
    per-user configuration directory: ``%APPDATA%`` on Windows, ``~/Library/Application
    Support`` on macOS (``$XDG_CONFIG_HOME`` if you set it there), ``$XDG_CONFIG_HOME`` or
    ``~/.config`` elsewhere. A session already saved at ``~/.config/fleep-async`` on macOS
    (where earlier versions kept it) is still used.

    Args:
        env: the environment (default: ``os.environ``).
        platform: ``sys.platform``'s value (for tests).
        home: the home directory (default: ``Path.home()``).
    """
    env = os.environ if env is None else env
    platform = sys.platform if platform is None else platform
    explicit = env.get(SESSION_FILE_ENV)
    if explicit:
        return Path(explicit).expanduser()
    home = Path.home() if home is None else home
    xdg = env.get("XDG_CONFIG_HOME")
    xdg_root = Path(xdg) if xdg and Path(xdg).is_absolute() else None  # XDG: ignore relative
    if platform == "win32":
        appdata = env.get("APPDATA")
        root = Path(appdata) if appdata else home / "AppData" / "Roaming"
    elif platform == "darwin" and xdg_root is None:
        root = home / "Library" / "Application Support"
        legacy = home / ".config" / _APP_DIR / "session.json"
        if legacy.is_file() and not (root / _APP_DIR / "session.json").exists():
            return legacy
    else:
        root = xdg_root or home / ".config"
    return root / _APP_DIR / "session.json"


def horizon_path(session_path: Path) -> Path:
    """The event checkpoint file kept beside the session file (``session.horizon.json``)."""
    return session_path.with_name(f"{session_path.stem}.horizon.json")


@attrs.frozen(kw_only=True)
class SavedSession:
    """A session as stored by ``fleep-async login``: which server, and the session there."""

    base_url: str
    state: SessionState

    def to_json(self) -> str:
        """The file's content (secrets included: the file is owner-only)."""
        return json.dumps(
            {"format": _FORMAT, "base_url": self.base_url, **self.state.to_dict()}, indent=2
        )


def load_session(path: Path) -> SavedSession | None:
    """Read a saved session; ``None`` if there is none.

    Raises:
        UsageError: the file exists but is not a session file (its content is never quoted).
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise UsageError(f"cannot read the session file {path}: {exc.strerror}") from None
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    base_url = data.get("base_url") if isinstance(data, dict) else None
    if not isinstance(data, dict) or not isinstance(base_url, str) or not base_url:
        raise UsageError(f"{path} is not a fleep-async session file; run `fleep-async login`")
    try:
        state = SessionState.from_dict(data)
    except UsageError:
        raise UsageError(f"{path} is not a valid session file; run `fleep-async login`") from None
    return SavedSession(base_url=base_url, state=state)


def _write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically; the file is created 0600, never wider."""
    directory = path.parent
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = directory / f".{path.name}.{uuid.uuid4().hex[:12]}.tmp"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(tmp, flags, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    if hasattr(os, "O_DIRECTORY"):
        # Make the rename durable too (POSIX); harmless to skip where unsupported.
        with contextlib.suppress(OSError):
            dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)


def save_session(path: Path, saved: SavedSession) -> None:
    """Store ``saved`` at ``path`` (mode 0600, atomic replace; the password is not in it)."""
    _write_private(path, saved.to_json().encode("utf-8"))


def delete_file(path: Path) -> bool:
    """Remove ``path``; return whether it existed."""
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    return True
