"""Terminal output for the CLI and the demo: styled lines on a TTY, plain text elsewhere.

Rich is used when it is installed and the stream is a terminal; anywhere else (a pipe, a file,
no rich) lines are written as plain text, never wrapped, so that scripts can parse them. Text
from the server (message bodies, names) is shown with control characters escaped, so a message
cannot move the cursor or recolour the terminal.
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Sequence
from types import TracebackType
from typing import IO, Any, Final

__all__ = ["Output", "SyncProgress", "clean", "clock_time"]

Part = tuple[str, str]
"""A piece of a line: ``(text, rich style)``; the style is ignored in plain output."""

# C0 and C1 controls except tab and newline, plus DEL: what a terminal may act on.
_CONTROL: Final = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def clean(text: str) -> str:
    """``text`` with terminal control characters shown as ``\\xNN`` instead of acted on."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def clock_time(unix_time: float | None) -> str:
    """``HH:MM:SS`` in local time (now when ``unix_time`` is ``None``)."""
    return time.strftime(
        "%H:%M:%S", time.localtime(time.time() if unix_time is None else unix_time)
    )


def _is_tty(stream: IO[str]) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty()) if isatty is not None else False
    except ValueError:  # a closed stream
        return False


class Output:
    """Writes lines to a text stream, with rich styling when the stream is a terminal.

    Args:
        stream: where to write (default: ``sys.stdout`` at call time).
        color: force styling on or off; ``None`` decides from the stream (a TTY with rich
            installed; rich also honours ``NO_COLOR``).
    """

    def __init__(self, stream: IO[str] | None = None, *, color: bool | None = None) -> None:
        self.stream: IO[str] = stream if stream is not None else sys.stdout
        self.is_tty = _is_tty(self.stream)
        self._console: Any = None
        want = self.is_tty if color is None else color
        if want:
            try:
                from rich.console import Console
            except ImportError:  # rich is optional: plain text still works
                self._console = None
            else:
                self._console = Console(
                    file=self.stream,
                    highlight=False,
                    soft_wrap=True,
                    force_terminal=True if color else None,
                )

    @property
    def styled(self) -> bool:
        """Whether output goes through rich (colours on)."""
        return self._console is not None

    def parts(self, parts: Sequence[Part]) -> None:
        """Write one line made of styled parts (text is used as is: no markup is parsed)."""
        if self._console is not None:
            from rich.text import Text

            self._console.print(Text.assemble(*parts))
            return
        self.stream.write("".join(text for text, _ in parts) + "\n")
        self.stream.flush()

    def line(self, text: str = "", style: str = "") -> None:
        """Write one line of text in one style."""
        self.parts([(text, style)])

    def raw(self, text: str) -> None:
        """Write ``text`` unstyled and unwrapped (JSON), with a newline."""
        self.stream.write(text + "\n")
        self.stream.flush()


class SyncProgress:
    """A progress bar for the initial sync, shown only on a terminal with rich installed.

    Use as a context manager; call :meth:`update` with 0.0 - 1.0. The bar disappears when it
    reaches 1.0 or when the block ends.
    """

    def __init__(self, stream: IO[str] | None = None, *, description: str = "Syncing") -> None:
        self._stream = stream if stream is not None else sys.stderr
        self._description = description
        self._progress: Any = None
        self._task: Any = None
        self._done = False
        self.last: float | None = None

    def __enter__(self) -> SyncProgress:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _start(self) -> None:
        if self._progress is not None or self._done or not _is_tty(self._stream):
            return
        try:
            from rich.console import Console
            from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn
        except ImportError:
            self._done = True
            return
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            console=Console(file=self._stream),
            transient=True,
        )
        self._progress.start()
        self._task = self._progress.add_task(self._description, total=1.0)

    def update(self, fraction: float) -> None:
        """Show ``fraction`` (0.0 - 1.0) of the sync done."""
        self.last = fraction
        self._start()
        if self._progress is not None:
            self._progress.update(self._task, completed=min(max(fraction, 0.0), 1.0))
        if fraction >= 1.0:
            self.close()

    def close(self) -> None:
        """Remove the bar (idempotent)."""
        self._done = True
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
