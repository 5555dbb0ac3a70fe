"""One Ansible variable -> the fleet settings it means (pure: no files, no merging).

Only connection variables are read (``ansible_host``, ``ansible_port``, ``ansible_user``, the key
file, ``ansible_connection``, host-key checking and the OpenSSH options of ``ansible_ssh_args`` /
``ansible_ssh_common_args`` / ``ansible_ssh_extra_args``) plus ``fleet_<setting>``; every other
variable belongs to playbooks and means nothing here. A connection setting fleet cannot honour
(``ProxyCommand``, ``-p`` in ssh options, a value encrypted with ansible-vault) is an error, never
silently dropped: fleet would reach another address, port or login than Ansible does.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fleet.inventory.native import refuse_misread
from fleet.inventory.settings import DEVICE_ONLY, SETTINGS

SKIP = "_skip"  # internal setting: ansible_connection=local, not a device

_ENV_LOOKUP = re.compile(
    r"""^\{\{\s*lookup\(\s*['"]env['"]\s*,\s*['"]([A-Za-z_][A-Za-z0-9_]*)['"]\s*\)\s*\}\}$"""
)

# Ansible connection variable -> fleet setting. Aliases as the ssh connection plugin reads them:
# when several are set, the last of each tuple wins wherever it was set (Ansible's config manager).
_DIRECT = {
    "ansible_host": "host",
    "ansible_ssh_host": "host",
    "ansible_port": "port",
    "ansible_ssh_port": "port",
    "ansible_user": "user",
    "ansible_ssh_user": "user",
    "ansible_private_key_file": "identity_file",
    "ansible_ssh_private_key_file": "identity_file",
}
ALIASES = (
    ("ansible_host", "ansible_ssh_host"),
    ("ansible_port", "ansible_ssh_port"),
    ("ansible_user", "ansible_ssh_user"),
    ("ansible_private_key_file", "ansible_ssh_private_key_file"),
    ("ansible_host_key_checking", "ansible_ssh_host_key_checking"),
)
SECRETS = {
    "ansible_password": "password_env",
    "ansible_ssh_pass": "password_env",
    "ansible_ssh_password": "password_env",
    "ansible_ssh_private_key_passphrase": "passphrase_env",
    "ansible_private_key_passphrase": "passphrase_env",
}
# Read in this order; for each OpenSSH option the first value obtained wins, as on ssh's command line.
SSH_ARGS = ("ansible_ssh_args", "ansible_ssh_common_args", "ansible_ssh_extra_args")
HOST_KEY_CHECKING = ("ansible_host_key_checking", "ansible_ssh_host_key_checking")
# Connection variables fleet cannot follow: Ansible would connect otherwise than fleet.
_KEY_TEXT = "a key written in the inventory is not used: give its file in ansible_ssh_private_key_file"
_UNSUPPORTED = {
    "ansible_private_key": _KEY_TEXT,
    "ansible_ssh_private_key": _KEY_TEXT,
    "ansible_ssh_executable": "fleet runs no ssh program: remove it, or describe the hop with ProxyJump",
}


_READ = frozenset([*_DIRECT, *_UNSUPPORTED, *HOST_KEY_CHECKING, *SSH_ARGS, "ansible_connection"])


@dataclass(frozen=True)
class Vault:
    """A value encrypted with ansible-vault (YAML ``!vault``, or ``{"__ansible_vault": ...}`` in
    ``ansible-inventory --list``): fleet cannot read it, and need not unless it is a setting."""

    def __repr__(self) -> str:
        return "<vault>"


_VAULT_SETTING = (
    "encrypted with ansible-vault: fleet cannot decrypt it (ansible-inventory --list does not either);"
    " connection settings are no secrets: write this one unencrypted"
)
_VAULT_SECRET = (
    "encrypted with ansible-vault: fleet reads no secrets from inventories; name the environment"
    " variable holding it: fleet_{}: VAR, or \"{{{{ lookup('env', 'VAR') }}}}\""
)


def convert(var: str, value: Any, ini: bool) -> dict[str, Any]:
    """The fleet settings of ``var: value`` ({} for variables fleet ignores); ValueError says why
    a value fleet needs is unusable. ``ini``: the value is INI text, not a YAML value."""
    if var in SECRETS:
        m = _ENV_LOOKUP.match(value.strip()) if isinstance(value, str) else None
        if isinstance(value, Vault):
            raise ValueError(_VAULT_SECRET.format(SECRETS[var]))
        if m is None:
            raise ValueError(
                "a secret written in the inventory is not used (fleet never reads or stores secrets"
                " from files): write \"{{ lookup('env', 'VAR') }}\" or set fleet_" + SECRETS[var] + ": VAR"
            )
        return {SECRETS[var]: m.group(1)}
    if not var.startswith("fleet_") and var not in _READ:
        return {}  # playbook variables and options that change neither where nor as whom
    if isinstance(value, Vault):
        raise ValueError(_VAULT_SETTING)
    if var.startswith("fleet_"):
        setting = var[len("fleet_") :]
        if setting not in SETTINGS and setting != "tags":
            raise ValueError("unknown fleet setting")
        return _check(setting, value, ini)
    if var in _DIRECT:
        _no_template(value)
        return _check(_DIRECT[var], value, ini)
    if var in _UNSUPPORTED:
        raise ValueError(_UNSUPPORTED[var])
    if var in HOST_KEY_CHECKING:
        return {"host_key_checking": "strict" if _to_bool(refuse_misread(value)) else "off"}
    if var in SSH_ARGS:
        _no_template(value)
        return ssh_options(value)
    # ansible_connection, by plugin name, alias or fully qualified name
    name = value.removeprefix("ansible.builtin.") if isinstance(value, str) else value
    if name in ("ssh", "smart"):
        return {}
    if name in ("paramiko", "paramiko_ssh"):
        return {"transport": "paramiko"}
    if name == "local":
        return {SKIP: True}
    raise ValueError(f"connection {value!r} is not SSH: fleet reaches devices over SSH only")


_TRUE, _FALSE = ("true", "yes", "on", "1"), ("false", "no", "off", "0")
_BOOLS = _TRUE + _FALSE


def _to_bool(v: Any) -> bool:
    if isinstance(v, bool):
        return v
    if isinstance(v, str) and v.lower() in _BOOLS:
        return v.lower() in _TRUE
    raise ValueError(f"must be true or false, not {v!r}")


def _ini_value(setting: str, v: Any) -> Any:
    """INI values are text: give a setting the type its YAML spelling would have had."""
    if not isinstance(v, str):
        return v
    if setting == "port" and v.isdigit() and not v.startswith("0"):
        return int(v)
    if setting == "timeout":
        try:
            return float(v)
        except ValueError:
            return v
    if setting == "legacy_algorithms" or (setting == "host_key_checking" and v.lower() in _BOOLS):
        return _to_bool(v)
    if setting == "ssh_config" and v.lower() in ("false", "no", "off"):
        return False
    if setting in (
        "identity_file",
        "kex_algorithms",
        "ciphers",
        "macs",
        "host_key_algorithms",
        "tags",
        "firmware_files",
    ):
        return [x.strip() for x in v.split(",") if x.strip()]
    return v


def _check(setting: str, value: Any, ini: bool) -> dict[str, Any]:
    check: Callable[[Any], Any] = {**SETTINGS, **DEVICE_ONLY}[setting]
    return {setting: check(_ini_value(setting, value) if ini else refuse_misread(value))}


def _no_template(v: Any) -> None:
    if isinstance(v, str) and "{{" in v:
        raise ValueError("Jinja templates are not evaluated by fleet: write the value itself")


# --- OpenSSH options ------------------------------------------------------------------------------

# Options that tune the ssh client or the session, not where, as whom or how securely it connects.
_SSH_IGNORED = frozenset(
    [
        "addkeystoagent",
        "addressfamily",
        "batchmode",
        "canonicaldomains",
        "canonicalizefallbacklocal",
        "canonicalizehostname",
        "canonicalizemaxdots",
        "canonicalizepermittedcnames",
        "challengeresponseauthentication",
        "checkhostip",
        "clearallforwardings",
        "compression",
        "connectionattempts",
        "connecttimeout",
        "controlmaster",
        "controlpath",
        "controlpersist",
        "dynamicforward",
        "enableescapecommandline",
        "escapechar",
        "exitonforwardfailure",
        "forwardagent",
        "forwardx11",
        "forwardx11timeout",
        "forwardx11trusted",
        "gatewayports",
        "gssapiauthentication",
        "gssapidelegatecredentials",
        "hashknownhosts",
        "hostbasedauthentication",
        "identitiesonly",
        "ipqos",
        "kbdinteractiveauthentication",
        "localforward",
        "loglevel",
        "logverbose",
        "nohostauthenticationforlocalhost",
        "numberofpasswordprompts",
        "passwordauthentication",
        "preferredauthentications",
        "pubkeyauthentication",
        "rekeylimit",
        "remoteforward",
        "requesttty",
        "sendenv",
        "serveralivecountmax",
        "serveraliveinterval",
        "setenv",
        "streamlocalbindmask",
        "streamlocalbindunlink",
        "tcpkeepalive",
        "tunnel",
        "updatehostkeys",
        "verifyhostkeydns",
        "visualhostkey",
    ]
)
_SSH_ALGORITHMS = frozenset(
    [
        "kexalgorithms",
        "ciphers",
        "macs",
        "hostkeyalgorithms",
        "pubkeyacceptedkeytypes",
        "pubkeyacceptedalgorithms",
        "casignaturealgorithms",
        "hostbasedacceptedalgorithms",
    ]
)
_SSH_USE_VARIABLE = {
    "hostname": "ansible_host",
    "port": "ansible_port",
    "user": "ansible_user",
    "identityfile": "ansible_ssh_private_key_file",
}
# ssh flags with a value -> the option they set ("" for -o, which names its option itself)
_FLAG_OPTION = {
    "o": "",
    "J": "ProxyJump",
    "F": "ConfigFile",
    "p": "Port",
    "l": "User",
    "i": "IdentityFile",
    "c": "Ciphers",
    "m": "MACs",
    "b": "BindAddress",
    "B": "BindInterface",
    "W": "stdio forwarding (-W)",
    "I": "PKCS11Provider",
    "w": "tunnel forwarding (-w)",
    "Q": "query (-Q)",
    "O": "control command (-O)",
}
_FLAG_IGNORED_ARG = set("DEeLRS")  # forwardings, log file, escape char, control socket
_FLAG_NO_ARG = set("1246AaCfGgKkMNnqsTtVvXxYy")


def ssh_options(value: Any) -> dict[str, Any]:
    """The fleet settings of an OpenSSH option string (``-J hop -o StrictHostKeyChecking=no``);
    ValueError for an option that changes where, as whom or how fleet would have to connect."""
    if not isinstance(value, str):
        raise ValueError("must be a string of ssh options")
    try:
        words = shlex.split(value)
    except ValueError as exc:
        raise ValueError(f"cannot split ssh options: {exc}") from None
    out: dict[str, Any] = {}
    i = 0
    while i < len(words):
        w = words[i]
        i += 1
        if not w.startswith("-") or len(w) < 2:
            raise ValueError(f"{w!r} is not an ssh option")
        flag = w[1]
        if all(c in _FLAG_NO_ARG for c in w[1:]):
            continue
        if flag not in _FLAG_OPTION and flag not in _FLAG_IGNORED_ARG:
            raise ValueError(f"ssh option {w!r} is not supported by fleet")
        arg = w[2:]
        if not arg:
            if i >= len(words):
                raise ValueError(f"ssh option {w} needs a value")
            arg, i = words[i], i + 1
        if flag in _FLAG_IGNORED_ARG:
            continue
        if flag == "o":
            name, _, val = arg.strip().partition("=") if "=" in arg else arg.strip().partition(" ")
        else:
            name, val = _FLAG_OPTION[flag], arg
        for key, setting in _ssh_option(name.strip(), val.strip(), f"-{flag}" if flag != "o" else "").items():
            out.setdefault(key, setting)  # first obtained wins
    return out


def _ssh_option(name: str, val: str, flag: str) -> dict[str, Any]:
    low = name.lower()
    shown = flag or name
    if low == "proxyjump":
        return {} if val.lower() == "none" else _check("proxy_jump", val, False)
    if low == "stricthostkeychecking":
        mode = {"yes": "strict", "no": "off", "accept-new": "accept-new", "off": "off"}.get(val.lower())
        if mode is None:
            raise ValueError(f"StrictHostKeyChecking={val}: fleet knows yes, accept-new and no")
        return {"host_key_checking": mode}
    if low == "userknownhostsfile":
        return {"known_hosts": val.split()[0]} if val.split() else {}
    if low == "configfile":
        return {"ssh_config": False if val.lower() == "none" else val}
    if low in _SSH_IGNORED:
        return {}
    if low == "proxycommand":
        raise ValueError(
            "ssh option ProxyCommand is not supported: fleet runs no local command to reach a device;"
            " write the jump host as ProxyJump (-J user@host:port), or set fleet_proxy_jump"
        )
    if low in _SSH_USE_VARIABLE:
        raise ValueError(f"ssh option {shown} is not read by fleet: set {_SSH_USE_VARIABLE[low]} instead")
    if low in _SSH_ALGORITHMS:
        raise ValueError(
            f"ssh option {shown} is not read by fleet: set fleet_legacy_algorithms: true, or the lists"
            " fleet_kex_algorithms, fleet_ciphers, fleet_macs, fleet_host_key_algorithms"
        )
    raise ValueError(
        f"ssh option {shown} is not supported by fleet (it could change how the device is reached)"
    )
