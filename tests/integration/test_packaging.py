"""The built wheel, as a pip user gets it: a fresh virtualenv, the ``testing`` extra, a bot test.

One wheel and one virtualenv per session (about 30-60 s on the shared 2-core machine, most of
it pip resolving from its cache). The same virtualenv first has the wheel without the extra (the
``fake_fleep`` fixture must then fail with the install command, never skip), then with it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import attrs
import pytest

import fleep_async

REPO = Path(__file__).resolve().parents[2]
TIMEOUT = 600


def _run(
    argv: list[str], *, cwd: Path, timeout: float = TIMEOUT
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return subprocess.run(
        argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


@attrs.frozen
class Installed:
    wheel: Path
    python: Path
    user_dir: Path
    without_extra: subprocess.CompletedProcess[str]
    with_extra: subprocess.CompletedProcess[str]
    imported: str


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    root = tmp_path_factory.mktemp("pip-user")
    wheels = root / "wheels"
    built = _run(
        [sys.executable, "-m", "pip", "wheel", str(REPO), "--no-deps", "-q", "-w", str(wheels)],
        cwd=root,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    (wheel,) = wheels.glob("fleep_async-*.whl")
    venv = root / "venv"
    made = _run([sys.executable, "-m", "venv", str(venv)], cwd=root)
    assert made.returncode == 0, made.stderr
    python = venv / "bin" / "python"
    pip = [str(python), "-m", "pip", "install", "-q"]
    # The user's project: the example bot test, copied out of the installed package.
    user_dir = root / "mybot"
    user_dir.mkdir()
    step = _run([*pip, str(wheel), "pytest"], cwd=root)
    assert step.returncode == 0, step.stdout + step.stderr
    step = _run([str(venv / "bin" / "fleep-async"), "examples", "--copy", str(user_dir)], cwd=root)
    assert step.returncode == 0, step.stdout + step.stderr
    pytest_argv = [str(python), "-m", "pytest", "-p", "no:cacheprovider", "-rA", "test_my_bot.py"]
    without_extra = _run(pytest_argv, cwd=user_dir)
    imported = _run(
        [str(python), "-c", "import sys, fleep_async; print(sorted(m for m in ('rich', "
         "'starlette', 'uvicorn', 'pytest', 'sqlite3') if m in sys.modules))"],
        cwd=root,
    )  # fmt: skip
    assert imported.returncode == 0, imported.stderr
    step = _run([*pip, f"{wheel}[testing]"], cwd=root)
    assert step.returncode == 0, step.stdout + step.stderr
    with_extra = _run(pytest_argv, cwd=user_dir)
    return Installed(wheel, python, user_dir, without_extra, with_extra, imported.stdout.strip())


def test_a_bot_test_passes_with_only_the_testing_extra_installed(installed: Installed) -> None:
    result = installed.with_extra
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout, result.stdout
    assert "skipped" not in result.stdout


def test_without_the_extra_the_fixture_fails_with_the_install_command(
    installed: Installed,
) -> None:
    result = installed.without_extra
    assert result.returncode == 1, result.stdout + result.stderr
    assert "1 error" in result.stdout, result.stdout  # a fixture failure is an error, not a skip
    assert "skipped" not in result.stdout
    assert "pip install 'fleep-async[testing]'" in result.stdout


def test_the_wheel_ships_the_license_the_examples_and_the_project_urls(
    installed: Installed,
) -> None:
    with zipfile.ZipFile(installed.wheel) as wheel:
        names = wheel.namelist()
        metadata = next(n for n in names if n.endswith(".dist-info/METADATA"))
        text = wheel.read(metadata).decode()
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert "fleep_async/examples/echo_bot.py" in names
    assert "fleep_async/examples/test_my_bot.py" in names
    assert "License-Expression: MIT" in text
    assert "Project-URL: Repository, https://github.com/fleep-async/fleep-async" in text
    assert "Provides-Extra: testing" in text
    # The README is the PyPI page: its links must work there, so none is relative.
    assert "](docs/" not in text
    assert "](examples/" not in text


def test_importing_the_library_loads_no_cli_or_server_dependency(installed: Installed) -> None:
    # Without the server extra (no click, so httpx does not load its own CLI and rich either).
    assert installed.imported == "[]"


def test_the_testing_extra_has_no_linters_or_type_checkers() -> None:
    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    names = " ".join(extras["testing"])
    for tool in ("ruff", "mypy", "hypothesis"):
        assert tool not in names
    assert "pytest" in names
    assert "fleep-async[server]" in names
    assert fleep_async.__version__


def test_the_installed_wheel_serves_the_web_chat(installed: Installed) -> None:
    # The page's files are package data: served from the installed wheel, not from the clone.
    script = (
        "import anyio, fleep_async.testing as t\n"
        "async def main():\n"
        "    async with t.FakeFleep().http_client() as http:\n"
        "        for path in ('/chat/', '/chat/chat.js', '/chat/chat.css'):\n"
        "            r = await http.get(path)\n"
        "            print(path, r.status_code, len(r.content))\n"
        "    print(t.__file__)\n"
        "anyio.run(main)\n"
    )
    result = _run([str(installed.python), "-c", script], cwd=installed.user_dir)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [line.split()[:2] for line in lines[:3]] == [
        ["/chat/", "200"],
        ["/chat/chat.js", "200"],
        ["/chat/chat.css", "200"],
    ]
    assert all(int(line.split()[2]) > 1000 for line in lines[:3])
    assert not lines[3].startswith(str(REPO))  # imported from the virtualenv


def test_the_python_running_the_suite_is_a_declared_one() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    assert f"Programming Language :: Python :: {version}" in project["classifiers"]
    declared = [c.rsplit(" ", 1)[-1] for c in project["classifiers"] if c.count(".") == 1]
    assert declared == ["3.11", "3.12", "3.13"]
    assert project["requires-python"] == ">=3.11"
