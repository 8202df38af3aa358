"""``python -m fleep_async``: the ``fleep-async`` command."""

from __future__ import annotations

import sys

from fleep_async.cli import main

if __name__ == "__main__":
    sys.exit(main())
