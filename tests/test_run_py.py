"""`python3 run.py test|demo` on a Python without venv/ensurepip (Debian without python3-venv)
stops with one line naming the package, never a traceback, and leaves no half-made .venv."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import venv
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]


def load_run_py() -> ModuleType:
    spec = importlib.util.spec_from_file_location("run_py_under_test", ROOT / "run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def run_py(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """run.py as a module, its virtual environment redirected into tmp_path, and no real
    environment creation or pip run allowed."""
    module = load_run_py()
    monkeypatch.setattr(module, "VENV", tmp_path / ".venv")
    monkeypatch.setattr(module, "PYTHON", tmp_path / ".venv" / "bin" / "python")
    monkeypatch.setattr(module, "STAMP", tmp_path / ".venv" / ".ctviewer-setup")

    def no_real_setup(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise AssertionError("a test must not create a real environment or run pip")

    monkeypatch.setattr(venv.EnvBuilder, "create", no_real_setup)
    monkeypatch.setattr(subprocess, "run", no_real_setup)
    return module


def one_line(capsys: pytest.CaptureFixture) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    (line,) = err.strip().splitlines()
    return line


@pytest.mark.parametrize(
    "failure",
    [subprocess.CalledProcessError(1, ["python", "-m", "ensurepip"]), SystemExit(1)],
    ids=["python-venv", "debian-patched-venv"],  # Debian's venv prints a paragraph and exits
)
def test_ensurepip_failing_in_venv_creation_names_the_apt_package(
    run_py: ModuleType,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture,
    failure: BaseException,
) -> None:
    def debian_create(builder: venv.EnvBuilder, env_dir: str) -> None:
        Path(env_dir, "bin").mkdir(parents=True)  # the folder is made, then ensurepip fails
        raise failure

    monkeypatch.setattr(venv.EnvBuilder, "create", debian_create)
    assert run_py.main(["test"]) == 1
    assert "apt-get install -y python3-venv" in one_line(capsys)
    assert not run_py.VENV.exists()  # the next run starts clean


def test_missing_ensurepip_module_names_the_apt_package(
    run_py: ModuleType, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setitem(sys.modules, "ensurepip", None)  # `import ensurepip` raises ImportError
    assert run_py.main(["demo"]) == 1
    assert "apt-get install -y python3-venv" in one_line(capsys)


def test_failed_install_is_one_line(
    run_py: ModuleType, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setattr(run_py, "create_environment", lambda: None)
    monkeypatch.setattr(run_py, "_has_pip", lambda: True)

    def no_network(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise subprocess.CalledProcessError(1, args[0])

    monkeypatch.setattr(run_py.subprocess, "run", no_network)
    assert run_py.main(["test"]) == 1
    assert "pip exit code 1" in one_line(capsys)


def test_tests_need_the_qt_system_libraries_in_one_line(
    run_py: ModuleType, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """A fresh Debian lacks libglib2.0-0 & co.: pytest-qt would die with an INTERNALERROR."""
    line = (
        "run.py: cannot run the tests here: the viewer needs system libraries that are missing "
        "(libglib-2.0.so.0); install them with: apt-get install -y libglib2.0-0"
    )
    checked = []

    def check(args, **kwargs):  # noqa: ANN001, ANN003, ANN202
        checked.append(args)
        return subprocess.CompletedProcess(args, 1, "", f"{line}\n")

    monkeypatch.setattr(run_py, "ensure_environment", lambda: None)
    monkeypatch.setattr(subprocess, "run", check)
    monkeypatch.setattr(subprocess, "call", lambda *a, **k: pytest.fail("pytest must not start"))
    assert run_py.main(["test"]) == 1
    assert one_line(capsys) == line and "check_viewer_can_start" in checked[0][-1]


def test_system_check_passes_where_the_tests_run(monkeypatch: pytest.MonkeyPatch) -> None:
    run_py = load_run_py()  # the real check, with the interpreter running these tests
    monkeypatch.setattr(run_py, "PYTHON", Path(sys.executable))
    assert run_py.test_system_problem() == ""
