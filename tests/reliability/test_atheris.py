"""The atheris (libFuzzer) harness, behind --run-slow and only where atheris is installed (it is
not a test dependency: ``pip install atheris``, a binary wheel for CPython 3.11 on x86-64)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

RUNS = 200_000


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("atheris") is None, reason="atheris not installed")
def test_atheris_finds_no_crash(tmp_path: Path) -> None:
    """200,000 coverage-guided inputs to split_capture + metrics_from_capture and split_method_log
    + metrics_from_block; any exception but CaptureFormatError, or 10 s on one input, is a crash."""
    harness = Path(__file__).with_name("atheris_fuzz.py")
    res = subprocess.run(
        [sys.executable, str(harness), f"-atheris_runs={RUNS}", "-timeout=10", "-max_len=4096"],
        capture_output=True,
        text=True,
        cwd=tmp_path,  # crash-* files land here
        timeout=1800,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    assert f"Done {RUNS} in" in res.stderr
