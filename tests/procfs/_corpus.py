"""Paths and readers for the /proc parser tests: the real-kernel corpus in tests/data/proc (SOURCES.md)."""

from __future__ import annotations

from pathlib import Path

DATA = Path(__file__).resolve().parents[1] / "data"
CORPUS = DATA / "proc"

PROM = "prometheus-procfs/fixtures/proc"
AOSP = "aosp-platform-system-core"
GOPI = "goprocinfo/linux/proc"
PCP = "pcp-qa/qa/linux"
ARM = "gomarkablestream-remarkable2/testdata"
T0 = "this-machine-linux-6/t0/proc"
T1 = "this-machine-linux-6/t1/proc"


def corpus(rel: str) -> str:
    """Text of one corpus file; a missing one fails the test (the corpus ships with the repository)."""
    return (CORPUS / rel).read_text(encoding="utf-8", errors="backslashreplace")


def corpus_files(name: str) -> list[str]:
    """Relative paths of every corpus file called ``name`` (e.g. 'maps'), sorted."""
    return sorted(str(p.relative_to(CORPUS)) for p in CORPUS.rglob(name) if p.is_file())
