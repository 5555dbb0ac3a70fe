"""Reading an inventory from disk: which format a file holds (told apart by content), the files of
an Ansible inventory directory and the group_vars/ and host_vars/ Ansible would read beside it.
The parsing itself is pure (native.py, ansible.py); this module only finds and reads files."""

from __future__ import annotations

from pathlib import Path

from fleet.inventory import ansible
from fleet.inventory.model import Inventory, InventoryError
from fleet.inventory.native import parse_inventory

# What Ansible skips in an inventory directory: hidden files, its vars directories, and its default
# ignored extensions (INVENTORY_IGNORE_EXTS of ansible-core 2.19; 2.18 and older skip .ini too).
_SKIPPED_NAMES = ("group_vars", "host_vars", "vars_plugins")
_SKIPPED_SUFFIXES = (
    ".pyc",
    ".pyo",
    ".swp",
    ".bak",
    "~",
    ".rpm",
    ".md",
    ".txt",
    ".rst",
    ".orig",
    ".cfg",
    ".retry",
)
VARS_EXTENSIONS = ("", ".yml", ".yaml", ".json")  # group_vars/NAME, NAME.yml, NAME.yaml, NAME.json


def load_inventory(path: Path | str) -> Inventory:
    """Read and validate an inventory: fleet YAML, an Ansible INI/YAML file or the JSON of
    ``ansible-inventory --list``, or an Ansible inventory directory; with an Ansible inventory, the
    ``group_vars/`` and ``host_vars/`` beside the file (or inside the directory). Raises
    InventoryError on the first problem."""
    path = Path(path)
    try:
        if path.is_dir():
            files = [(p, _read(p)) for p in inventory_files(path)]
            base = path
        else:
            text = _read(path)
            if ansible.detect_format(text) == "fleet":
                return parse_inventory(text, path)
            files, base = [(path, text)], path.parent
        model = ansible.read_inventory(path, base, files)
        for kind, names in (("group_vars", list(model.groups)), ("host_vars", list(model.hosts))):
            where = base / kind
            if not where.is_dir():
                continue
            listing = {p.name for p in where.iterdir()}
            for name in names:
                found = vars_files(where, name, listing)
                if found:
                    ansible.add_vars_files(model, kind, name, [(p, _read(p)) for p in found])
        return model.resolve()
    except RecursionError:  # PyYAML builds nested values recursively: [[[[... thousands deep
        raise InventoryError(path, None, "", "invalid YAML: nested too deeply") from None
    except OSError as exc:  # listing a directory
        raise InventoryError(path, None, "", f"cannot read: {exc}") from None


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InventoryError(path, None, "", f"cannot read: {exc}") from None


def inventory_files(directory: Path) -> list[Path]:
    """The files Ansible reads from an inventory directory, in its order (sorted by name, each
    subdirectory where it sorts)."""
    found: list[Path] = []
    for entry in sorted(directory.iterdir(), key=lambda p: p.name):
        name = entry.name
        if name.startswith(".") or name in _SKIPPED_NAMES or name.endswith(_SKIPPED_SUFFIXES):
            continue
        if entry.is_dir():
            found += inventory_files(entry)
        elif entry.is_file():
            found.append(entry)
    return found


def vars_files(where: Path, name: str, listing: set[str]) -> list[Path]:
    """Ansible's files for a group or host NAME in group_vars/ or host_vars/: the first that exists
    of NAME, NAME.yml, NAME.yaml, NAME.json; a directory NAME/ gives all its files (no extension or
    one of those), sorted, subdirectories included, hidden files and ``~`` backups left out."""
    for ext in VARS_EXTENSIONS:
        if name + ext in listing:
            found = where / (name + ext)
            return _dir_vars_files(found) if found.is_dir() else [found]
    return []


def _dir_vars_files(directory: Path) -> list[Path]:
    out: list[Path] = []
    for entry in sorted(directory.iterdir(), key=lambda p: p.name):
        if entry.name.startswith(".") or entry.name.endswith("~"):
            continue
        if entry.is_dir() and not entry.suffix:
            out += _dir_vars_files(entry)
        elif entry.is_file() and entry.suffix in VARS_EXTENSIONS:
            out.append(entry)
    return out
