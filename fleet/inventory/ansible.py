"""Ansible inventories read as Ansible reads them, into the same frozen Device records as fleet's own.

Users already keep their device lists in Ansible; ``fleet collect hosts.ini`` reads them as they are,
without the ansible package: INI, YAML, an inventory directory of such files, the ``group_vars/``
and ``host_vars/`` beside them, and the JSON that ``ansible-inventory -i SOURCE --list`` prints (so
dynamic inventories and inventory plugins work through the user's own Ansible). Text in, model out:
load.py reads the files, ansible_model.py merges by Ansible's precedence, ansible_vars.py says what
each variable means to fleet. Errors name file, line and key: ``hosts.ini:7: cam-1.ansible_port: ...``.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from fleet.inventory.ansible_model import Model, Vars, make_var
from fleet.inventory.ansible_vars import Vault
from fleet.inventory.model import InventoryError
from fleet.inventory.native import YAML_LOADER, _Loader, compose_yaml

_SECTION = re.compile(r"^\[([^\]\s:]+)(?::(vars|children))?\]\s*(?:[#;].*)?$")
_YAML_TOP = re.compile(r"^([A-Za-z_][\w.-]*):\s*(?:#.*)?$", re.MULTILINE)  # "devices:", "all:"
_RANGE = re.compile(r"\[([0-9a-zA-Z]+):([0-9a-zA-Z]+)(?::([0-9]+))?\]")
_GROUP_KEYS = {"hosts", "children", "vars"}

# The one-liner that turns anything Ansible reads (scripts, plugins) into what fleet reads.
LIST_HINT = "ansible-inventory -i {} --list > hosts.json, then give fleet hosts.json"
_NO_SCRIPTS = "a dynamic inventory script: fleet runs no inventory programs: "
_NO_PLUGINS = "an inventory plugin's configuration: fleet runs no plugins: "
_NOT_ANSIBLE = "not an Ansible inventory (INI, YAML, or the JSON of ansible-inventory --list)"


def detect_format(text: str) -> str:
    """``fleet``, ``ansible-ini``, ``ansible-yaml``, ``ansible-json`` (what ``ansible-inventory
    --list`` prints), ``ansible-plugin`` or ``ansible-script``, from the content (extensions lie)."""
    if text.startswith("#!"):
        return "ansible-script"
    for line in text.splitlines():
        if _SECTION.match(line.strip()):
            return "ansible-ini"
    try:
        root = yaml.compose(text, Loader=YAML_LOADER)  # nodes only: any tag (!vault) is fine here
    except yaml.YAMLError:
        # broken YAML, or INI host lines that YAML cannot read; a bare "key:" line (INI has none)
        # says YAML, so its loader names the problem and its line
        top = _YAML_TOP.search(text)
        if top is None:
            return "ansible-ini"
        return "ansible-yaml" if top.group(1) == "all" else "fleet"
    if root is None:
        return "fleet"  # the native loader explains what is missing
    if isinstance(root, yaml.ScalarNode):
        return "ansible-ini"  # host names, one a line
    if not isinstance(root, yaml.MappingNode):
        return "fleet"
    keys = {str(k.value): v for k, v in root.value if isinstance(k, yaml.ScalarNode)}
    if "plugin" in keys:
        return "ansible-plugin"
    if text.lstrip().startswith("{") and ("_meta" in keys or any(_is_json_group(v) for v in keys.values())):
        return "ansible-json"
    if "all" in keys or any(
        isinstance(v, yaml.MappingNode) and _GROUP_KEYS & {str(k.value) for k, _ in v.value}
        for v in keys.values()
    ):
        return "ansible-yaml"
    return "fleet"


def _is_json_group(node: yaml.Node) -> bool:
    """A group as a script prints it: a list of hosts, or ``hosts`` / ``children`` as lists."""
    if isinstance(node, yaml.SequenceNode):
        return True
    return isinstance(node, yaml.MappingNode) and any(
        str(k.value) in ("hosts", "children") and isinstance(v, yaml.SequenceNode) for k, v in node.value
    )


def read_inventory(path: Path, base: Path, files: Sequence[tuple[Path, str]]) -> Model:
    """The groups and hosts of an inventory: one file, or the files of an inventory directory
    (``path``), read in the order given; group_vars/host_vars come after (:func:`add_vars_files`).
    Relative paths in it are relative to ``base``: the file's directory, or the directory."""
    model = Model(path, base)
    for file, text in files:
        kind = detect_format(text)
        if kind == "ansible-ini":
            _read_ini(text, file, model)
        elif kind == "ansible-yaml":
            _read_yaml(text, file, model)
        elif kind == "ansible-json":
            _read_json(text, file, model)
        elif kind == "ansible-script":
            raise InventoryError(file, None, "", _NO_SCRIPTS + LIST_HINT.format(file))
        elif kind == "ansible-plugin":
            raise InventoryError(file, 1, "plugin", _NO_PLUGINS + LIST_HINT.format(file))
        elif text.strip() and compose_yaml(text, file) is not None:
            raise InventoryError(file, None, "", _NOT_ANSIBLE)
    return model


def add_vars_files(model: Model, kind: str, name: str, files: Sequence[tuple[Path, str]]) -> None:
    """``group_vars/NAME...`` or ``host_vars/NAME...`` (``kind``), in Ansible's load order: later
    files win."""
    merged: Vars = {}
    for file, text in files:
        merged.update(read_vars_file(text, file, kind))
    (model.group_files if kind == "group_vars" else model.host_files)[name] = merged


def read_vars_file(text: str, path: Path, kind: str) -> Vars:
    """One YAML or JSON file of variables (empty: none)."""
    root = compose_yaml(text, path)
    if root is None:
        return {}
    ld = _AnsibleLoader(path)
    if not isinstance(root, yaml.MappingNode):
        raise ld.fail(root, "", "must be a mapping of variable names to values")
    out: Vars = {}
    for var, (knode, vnode) in ld.mapping(root, "").items():
        line = _line(knode)
        out[var] = make_var(var, ld.value(vnode), False, path, line, var, f"{kind}:{path}:{line}")
    return out


class _AnsibleConstructor(yaml.constructor.SafeConstructor):
    """YAML as Ansible writes it: ``!vault`` values (unreadable here) and ``!unsafe`` strings."""


def _unsafe(loader: yaml.constructor.SafeConstructor, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]


_AnsibleConstructor.add_constructor("!vault", lambda loader, node: Vault())
_AnsibleConstructor.add_constructor("!unsafe", _unsafe)  # type: ignore[type-var]


class _AnsibleLoader(_Loader):
    constructor = _AnsibleConstructor

    def value(self, node: yaml.Node) -> Any:
        try:
            v = super().value(node)
        except yaml.YAMLError as exc:
            raise self.fail(
                node, "", f"cannot read the value: {getattr(exc, 'problem', None) or exc}"
            ) from None
        if isinstance(v, dict) and set(v) == {"__ansible_vault"}:
            return Vault()  # how ansible-inventory --list prints a !vault value
        return v


def _line(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1


# --- host patterns -------------------------------------------------------------------------------

# A host pattern may end in :PORT ("nvr-1:2222", "[2001:db8::1]:2222", "cam[01:20]:2222"), but only
# when what precedes is a host name or address; otherwise the whole pattern is the name, as in Ansible.
_BRACKETED_PORT = re.compile(r"^\[(.+)\]:([0-9]+)$")
_TRAILING_PORT = re.compile(r"^((?:[^:\[\]]|\[[^\]]*\])*):([0-9]+)$")
_R = r"\[(?:[a-z]:[a-z]|[0-9]+:[0-9]+)(?::[0-9]+)?\]"  # a host range
_LABEL = rf"(?:\w|{_R})(?:[\w-]|{_R})*(?<![-_])"
_HOSTNAME = re.compile(rf"^{_LABEL}(?:\.{_LABEL})*$", re.IGNORECASE)
_IPV6 = re.compile(
    r"^(?:[0-9a-f]|:|\.|\[[0-9a-f]+:[0-9a-f]+(?::[0-9]+)?\])*:(?:[0-9a-f]|:|\.|\[[^\]]*\])*$", re.I
)


def split_port(pattern: str) -> tuple[str, int | None]:
    """``name:port`` -> (name, port); a pattern without a port, or whose rest is not a host name
    or address, is all name."""
    rest, port = pattern, None
    for form in (_BRACKETED_PORT, _TRAILING_PORT):  # both, in turn, as Ansible tries them
        m = form.match(rest)
        if m:
            rest, port = m.group(1), int(m.group(2))
    if _HOSTNAME.match(rest) or _IPV6.match(rest):
        return rest, port
    return pattern, None


def _expand(pattern: str) -> list[str]:
    """Ansible host ranges: ``cam[01:20]``, ``node[a:f]``, ``x[0:10:2]``."""
    m = _RANGE.search(pattern)
    if m is None:
        return [pattern]
    lo, hi, step = m.group(1), m.group(2), int(m.group(3) or 1)
    head, tail = pattern[: m.start()], pattern[m.end() :]
    if lo.isdigit() and hi.isdigit():
        width = len(lo) if lo.startswith("0") and len(lo) > 1 else 0
        items = [str(i).zfill(width) for i in range(int(lo), int(hi) + 1, max(step, 1))]
    elif len(lo) == 1 and len(hi) == 1 and lo.isalpha() and hi.isalpha():
        items = [chr(c) for c in range(ord(lo), ord(hi) + 1, max(step, 1))]
    else:
        raise ValueError(f"bad host range [{m.group(0)[1:-1]}]")
    if not items:
        raise ValueError(f"empty host range {m.group(0)}")
    return [x for i in items for x in _expand(head + i + tail)]


def _hosts(pattern: str, path: Path, line: int | None, key: str) -> tuple[list[str], int | None]:
    name, port = split_port(pattern)
    try:
        return _expand(name), port
    except ValueError as exc:
        raise InventoryError(path, line, key, str(exc)) from None


# --- INI -----------------------------------------------------------------------------------------


def _read_ini(text: str, path: Path, model: Model) -> None:
    section, kind = "ungrouped", "hosts"
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        m = _SECTION.match(line)
        if m:
            section, kind = m.group(1), m.group(2) or "hosts"
            model.group(section, path, n)
            continue
        if line.startswith("[") and line.endswith("]"):  # "[2001:db8::5]:2222" is a host
            raise InventoryError(path, n, "", f"bad section header {line!r}")
        if kind == "children":
            model.add_child(section, line.split()[0], path, n)
            continue
        if kind == "vars":
            var, eq, value = line.partition("=")
            if not eq or not var.strip():
                raise InventoryError(path, n, f"{section}:vars", "expected key=value")
            var, value = var.strip(), _unquote(value.strip())
            key = f"{section}:vars.{var}"
            g = model.group(section, path, n)
            model.set_group_var(g, make_var(var, value, True, path, n, key, f"group:{section}"), var, value)
            continue
        try:
            words = shlex.split(line, comments=True)
        except ValueError as exc:
            raise InventoryError(path, n, section, f"cannot split the host line: {exc}") from None
        names, port = _hosts(words[0], path, n, f"{section}.{words[0]}")
        hosts = [model.add_host(section, name, path, n, port) for name in names]
        for word in words[1:]:
            var, eq, value = word.partition("=")
            if not eq:
                raise InventoryError(path, n, f"{section}.{words[0]}", f"expected key=value, not {word!r}")
            parsed = make_var(var, value, True, path, n, f"{words[0]}.{var}", "host")
            for host in hosts:
                host.vars[var] = parsed


def _unquote(v: str) -> str:
    if len(v) >= 2 and v[0] == v[-1] and v[0] in "'\"":
        return v[1:-1]
    return v


# --- YAML ----------------------------------------------------------------------------------------


def _read_yaml(text: str, path: Path, model: Model) -> None:
    root = compose_yaml(text, path)
    if root is None:
        return
    ld = _AnsibleLoader(path)
    for name, (knode, gnode) in ld.mapping(root, "").items():
        _yaml_group(ld, model, name, knode, gnode, name)


def _yaml_group(
    ld: _AnsibleLoader, model: Model, name: str, knode: yaml.Node, node: yaml.Node, key: str
) -> None:
    path = ld.path
    g = model.group(name, path, _line(knode))
    for part, (pk, pv) in ld.mapping(node, key).items():
        where = f"{key}.{part}"
        if part == "hosts":
            for pattern, (hk, hv) in ld.mapping(pv, where).items():
                names, port = _hosts(pattern, path, _line(hk), f"{where}.{pattern}")
                hosts = [model.add_host(name, h, path, _line(hk), port) for h in names]
                for var, (vk, vv) in ld.mapping(hv, f"{where}.{pattern}").items():
                    parsed = make_var(
                        var, ld.value(vv), False, path, _line(vk), f"{where}.{pattern}.{var}", "host"
                    )
                    for host in hosts:
                        host.vars[var] = parsed
        elif part == "vars":
            for var, (vk, vv) in ld.mapping(pv, where).items():
                value = ld.value(vv)
                parsed = make_var(var, value, False, path, _line(vk), f"{where}.{var}", f"group:{name}")
                model.set_group_var(g, parsed, var, value)
        elif part == "children":
            for child, (ck, cv) in ld.mapping(pv, where).items():
                model.add_child(name, child, path, _line(ck))
                _yaml_group(ld, model, child, ck, cv, f"{where}.{child}")
        else:
            raise ld.fail(pk, where, "unknown key (an Ansible group has hosts, children and vars)")


# --- JSON: what `ansible-inventory --list` (and any inventory script) prints ---------------------


def _read_json(text: str, path: Path, model: Model) -> None:
    """``{"_meta": {"hostvars": {HOST: VARS}}, GROUP: {"hosts": [...], "children": [...], "vars":
    {...}} or [HOST, ...]}``; with ``--export`` the group vars stay in their groups. Read through
    the YAML composer (JSON is YAML), so errors still name their line."""
    try:
        json.loads(text)
    except ValueError as exc:
        raise InventoryError(path, None, "", f"invalid JSON: {exc}") from None
    root = compose_yaml(text, path)
    ld = _AnsibleLoader(path)
    groups = ld.mapping(root, "") if root is not None else {}
    for name, (knode, gnode) in groups.items():
        if name == "_meta":
            continue
        g = model.group(name, path, _line(knode))
        parts = {"hosts": (knode, gnode)} if isinstance(gnode, yaml.SequenceNode) else ld.mapping(gnode, name)
        for part, (pk, pv) in parts.items():
            where = f"{name}.{part}"
            if part in ("hosts", "children"):
                for item in _names(ld, pv, where):
                    if part == "hosts":
                        model.add_host(name, item, path, _line(pk))
                    else:
                        model.add_child(name, item, path, _line(pk))
            elif part == "vars":
                for var, (vk, vv) in ld.mapping(pv, where).items():
                    value = ld.value(vv)
                    parsed = make_var(var, value, False, path, _line(vk), f"{where}.{var}", f"group:{name}")
                    model.set_group_var(g, parsed, var, value)
            else:
                raise ld.fail(pk, where, "unknown key (a group has hosts, children and vars)")
    if "_meta" not in groups:
        return
    meta = ld.mapping(groups["_meta"][1], "_meta")
    if "hostvars" not in meta:
        return
    for host, (_, hv) in ld.mapping(meta["hostvars"][1], "_meta.hostvars").items():
        if host not in model.hosts:
            continue  # as Ansible: variables of a host no group lists are not used
        for var, (vk, vv) in ld.mapping(hv, f"_meta.hostvars.{host}").items():
            where = f"_meta.hostvars.{host}.{var}"
            model.hosts[host].vars[var] = make_var(var, ld.value(vv), False, path, _line(vk), where, "host")


def _names(ld: _AnsibleLoader, node: yaml.Node, key: str) -> list[str]:
    if isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null":
        return []
    if not isinstance(node, yaml.SequenceNode) or not all(
        isinstance(n, yaml.ScalarNode) and n.value for n in node.value
    ):
        raise ld.fail(node, key, "must be a list of names")
    return [str(n.value) for n in node.value]
