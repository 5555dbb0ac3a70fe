"""Which inventory a file holds (fleet YAML or Ansible INI/YAML, told apart by content), loaded."""

from __future__ import annotations

from pathlib import Path

from fleet.inventory import ansible
from fleet.inventory.model import Inventory, InventoryError
from fleet.inventory.native import parse_inventory


def load_inventory(path: Path | str) -> Inventory:
    """Read and validate an inventory (fleet YAML, or an Ansible INI/YAML inventory, told apart by
    content); raises InventoryError on the first problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InventoryError(path, None, "", f"cannot read: {exc}") from None
    try:
        kind = ansible.detect_format(text)
        if kind == "fleet":
            return parse_inventory(text, path)
        return ansible.parse_ansible(text, path, kind)
    except RecursionError:  # PyYAML builds nested values recursively: [[[[... thousands deep
        raise InventoryError(path, None, "", "invalid YAML: nested too deeply") from None
