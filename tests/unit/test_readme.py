"""The README is the PyPI page and the first code people copy: its snippets must be right.

Every ```python block is type-checked with the project's own mypy settings (strict), each as a
module of its own; the block with a ``fake_fleep`` test is also run under pytest.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
README = (REPO / "README.md").read_text(encoding="utf-8")
BLOCKS = re.findall(r"^```python\n(.*?)^```$", README, flags=re.MULTILINE | re.DOTALL)


def test_the_readme_has_the_snippets_a_newcomer_needs() -> None:
    assert len(BLOCKS) >= 5
    assert any("def test_" in block and "fake_fleep" in block for block in BLOCKS)
    assert any("@router.error(" in block for block in BLOCKS)
    assert "pip install 'fleep-async[server]'" in README
    # The one command for the demo and the one for the tests, from a clone.
    assert "bash scripts/demo" in README
    assert "bash scripts/test" in README


def test_every_readme_link_is_absolute() -> None:
    targets = re.findall(r"\]\(([^)]+)\)", README)
    assert targets
    relative = [t for t in targets if not t.startswith(("https://", "http://"))]
    assert relative == []


def test_every_python_snippet_passes_mypy_strict(tmp_path: Path) -> None:
    mypy_api = pytest.importorskip("mypy.api", reason="mypy is in the dev extra")
    paths = []
    for number, block in enumerate(BLOCKS):
        path = tmp_path / f"readme_snippet_{number}.py"
        path.write_text(block, encoding="utf-8")
        paths.append(str(path))
    stdout, stderr, status = mypy_api.run(
        [
            "--strict",
            "--config-file",
            str(REPO / "pyproject.toml"),
            "--cache-dir",
            str(REPO / ".mypy_cache"),
            *paths,
        ]
    )
    assert status == 0, stdout + stderr


def test_the_readme_bot_test_passes(tmp_path: Path) -> None:
    (block,) = [b for b in BLOCKS if "def test_" in b]
    (tmp_path / "test_readme_bot.py").write_text(block, encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_readme_bot.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"\b[1-9]\d* passed", result.stdout), result.stdout
