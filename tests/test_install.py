"""What a stranger's machine sees: the package's name and version, quiet commands, light start-up,
reports readable per the umask, a repository that needs nothing beside it, a lock that matches."""

from __future__ import annotations

import importlib.metadata
import json
import logging
import os
import re
import subprocess
import sys
import tomllib
import warnings
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from typer.testing import CliRunner

import fleet
from fleet.cli import app as cli
from fleet.cli.logs import setup_logging
from fleet.store.store import Store
from fleet.sweep.reportdir import write_atomically

ROOT = Path(__file__).resolve().parents[1]
SEED_MAPS = ROOT / "tests" / "data" / "seed_maps.txt"


def _fleet(*args: str, python_flags: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *python_flags, "-m", "fleet", *args], capture_output=True, text=True, timeout=120
    )


def test_version_names_the_installed_distribution() -> None:
    res = _fleet("--version")
    assert res.returncode == 0 and res.stderr == ""
    assert res.stdout.strip() == f"fleet {fleet.__version__} (fleet-memleak)"
    assert importlib.metadata.version("fleet-memleak") == fleet.__version__


@pytest.fixture(scope="module")
def empty_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("store") / "store"
    Store(str(path), create=True).close()
    return path


READING_COMMANDS = {
    "help": ["--help"],
    "rank": ["rank", "--store", "{store}"],
    "rank-json": ["rank", "--store", "{store}", "--json"],
    "report": ["report", "--store", "{store}", "-o", "{tmp}/r.html"],
    "show": ["show", "nosuch", "--store", "{store}"],
    "maps": ["maps", str(SEED_MAPS)],
}
LOADED = """
import sys
from fleet.cli.app import main
sys.argv = ["fleet", *sys.argv[1:]]
try:
    main()
except SystemExit:
    pass
print("\\nLOADED", [m for m in ("asyncssh", "paramiko") if m in sys.modules])
"""


@pytest.mark.parametrize("name", READING_COMMANDS)
def test_reading_commands_load_no_ssh_library_and_say_nothing_on_stderr(
    name: str, empty_store: Path, tmp_path: Path
) -> None:
    """``-W default`` shows every warning Python would hide: none may reach a cron mail."""
    argv = [a.format(store=empty_store, tmp=tmp_path) for a in READING_COMMANDS[name]]
    res = subprocess.run(
        [sys.executable, "-W", "default", "-c", LOADED, *argv], capture_output=True, text=True, timeout=120
    )
    assert res.stdout.rstrip().endswith("LOADED []"), res.stdout[-300:]
    expected_err = (
        f"fleet: {empty_store}: no device named nosuch (fleet rank lists them)\n" if name == "show" else ""
    )
    assert res.stderr == expected_err


def test_the_ssh_libraries_import_quietly_with_the_installed_cryptography() -> None:
    res = subprocess.run(
        [
            sys.executable,
            "-W",
            "default",
            "-c",
            "import fleet.ssh.asyncssh_transport, fleet.ssh.paramiko_transport, fleet.lab",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0 and res.stderr == ""


def test_only_asyncssh_cryptography_warnings_are_silenced() -> None:
    """The same warning class raised from anywhere else is still shown."""
    code = (
        "import fleet, warnings\n"
        "from cryptography.utils import CryptographyDeprecationWarning as W\n"
        "warnings.warn('elsewhere', W)\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "CryptographyDeprecationWarning: elsewhere" in res.stderr


def test_other_warnings_become_log_lines_json_with_log_json(capsys: pytest.CaptureFixture[str]) -> None:
    logging.captureWarnings(False)  # an earlier in-process command may have left it half on
    try:
        setup_logging(json_lines=True, verbose=False)
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            warnings.warn("a dependency changed its mind", DeprecationWarning, stacklevel=1)
    finally:
        logging.captureWarnings(False)
        logging.getLogger("py.warnings").handlers.clear()
    line = capsys.readouterr().err.strip()
    doc = json.loads(line)
    assert doc["level"] == "warning" and "a dependency changed its mind" in doc["message"]


def test_help_shows_defaults_and_bracketed_text_and_offers_completion() -> None:
    runner = CliRunner()
    collect = " ".join(runner.invoke(cli.app, ["collect", "--help"]).output.split())
    assert "[default: hostname]" in collect
    assert "[collect: 2000; sweep: config max_connected, 2000]" in collect
    assert "[default: 1, 0 with --until]" in collect
    assert "[collect: 1; sweep: config maps_every, 3]" in collect
    root = runner.invoke(cli.app, ["--help"]).output
    assert "--install-completion" in root and "--version" in root


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o027, 0o640), (0o002, 0o664)])
def test_reports_and_summaries_follow_the_umask(tmp_path: Path, umask: int, mode: int) -> None:
    old = os.umask(umask)
    try:
        write_atomically(tmp_path / "fleet-report.html", "<html></html>")
    finally:
        os.umask(old)
    assert (tmp_path / "fleet-report.html").stat().st_mode & 0o777 == mode
    assert [p.name for p in tmp_path.iterdir()] == ["fleet-report.html"]  # no temporary file left


def _tracked_files() -> list[Path]:
    out = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return [ROOT / line for line in out.splitlines()]


def test_nothing_in_the_repository_reads_or_links_a_folder_beside_it() -> None:
    """A user's clone has nothing beside it: code, tests, docs and scripts must not need it."""
    needle = re.compile(r"\.\./" + "shared|" + r"parents\[\d\]\s*/\s*['\"]" + "shared")
    offenders = []
    for path in _tracked_files():
        if not path.is_file() or path.suffix in {".png", ".gz", ".zst"}:
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        offenders += [f"{path.relative_to(ROOT)}: {m.group(0)}" for m in needle.finditer(text)]
    assert offenders == []


def _pins(lock: Path) -> dict[str, str]:
    pins = dict(re.findall(r"^([A-Za-z0-9_.-]+)==([^\s;]+)", lock.read_text(), flags=re.MULTILINE))
    return {name.lower().replace("_", "-"): version for name, version in pins.items()}


def test_the_lock_files_pin_versions_pyproject_allows_with_hashes() -> None:
    """A pyproject change without `bash scripts/lock.sh` fails here, not on a user's machine."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = [*project["dependencies"], *project["optional-dependencies"]["postgres"]]
    dev_wanted = [*wanted, *project["optional-dependencies"]["test"]]
    runtime, dev = _pins(ROOT / "requirements.lock"), _pins(ROOT / "requirements-dev.lock")
    for pins, reqs in ((runtime, wanted), (dev, dev_wanted)):
        for req in map(Requirement, reqs):
            name = req.name.lower().replace("_", "-")
            assert name in pins, f"{name} is not in the lock"
            assert req.specifier.contains(pins[name], prereleases=True), f"{name}=={pins[name]} vs {req}"
    assert {n: v for n, v in dev.items() if n in runtime} == runtime  # the tests run what users get
    for lock in ("requirements.lock", "requirements-dev.lock"):
        blocks = re.split(r"\n(?=[A-Za-z0-9])", (ROOT / lock).read_text().split("\n", 2)[2])
        assert all("--hash=sha256:" in b for b in blocks if "==" in b), lock
