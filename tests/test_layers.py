"""The package's shape holds: no import cycle among fleet's modules (type-checking imports
included), and the layers contract in pyproject.toml (also run by .ci/run as lint-imports)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[1]


def test_no_module_imports_itself_back() -> None:
    graph = grimp.build_graph("fleet", include_external_packages=False)
    cycles = [
        (importer, imported)
        for importer in sorted(graph.modules)
        for imported in sorted(graph.find_modules_directly_imported_by(importer))
        if graph.find_shortest_chain(importer=imported, imported=importer)
    ]
    assert cycles == []


def test_the_layers_contract_is_kept() -> None:
    lint = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or "lint-imports"
    res = subprocess.run([lint], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout[-2000:]
    assert "1 kept, 0 broken" in res.stdout
