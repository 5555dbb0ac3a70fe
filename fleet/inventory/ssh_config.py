"""The part of OpenSSH's client config fleet honours: Host, HostName, User, Port, IdentityFile, ProxyJump.

Users already describe their devices in ``~/.ssh/config``; the inventory fills only what it does not
say itself (inventory.py decides that). A small parser of our own, not asyncssh's: it must never run
``Match exec`` commands or resolve names while an inventory is merely loaded. ``Host`` patterns
(``*``, ``?``, ``!negated``), ``Match all`` / ``Match host PATTERNS`` and ``Include`` are understood;
other ``Match`` criteria make their block not apply; every other keyword is ignored. As in OpenSSH the
first value obtained for a keyword wins, and IdentityFile accumulates.
"""

from __future__ import annotations

import fnmatch
import functools
import glob
import os
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

KEYWORDS = ("hostname", "user", "port", "identityfile", "proxyjump")
MAX_INCLUDE_DEPTH = 16


class SshConfigError(ValueError):
    """A value fleet would use is malformed; names the config file and line."""

    def __init__(self, path: str, line: int, key: str, message: str) -> None:
        super().__init__(message)
        self.path, self.line, self.key, self.message = path, line, key, message


@dataclass(frozen=True)
class _Entry:
    keyword: str  # lower case
    value: str
    path: str
    line: int


@dataclass(frozen=True)
class _Block:
    patterns: tuple[str, ...] | None  # None: Match all / before any Host (applies to every host)
    entries: tuple[_Entry, ...]


@dataclass(frozen=True)
class Resolved:
    """What the config says for one host: keyword -> (value, "file:line"); IdentityFile as a list."""

    values: dict[str, tuple[str, str]]
    identity_files: tuple[tuple[str, str], ...]


_KEYWORD = re.compile(r"^([^\s=]+)[\s=]+(.*)$")


def _split(line: str) -> tuple[str, list[str]]:
    """``Keyword value`` or ``Keyword=value``; values may be double-quoted."""
    m = _KEYWORD.match(line)
    if m is None:
        return line.lower(), []
    try:
        words = shlex.split(m.group(2), comments=True)
    except ValueError:
        words = m.group(2).split()
    return m.group(1).lower(), words


def _read(path: Path, depth: int = 0) -> list[_Block]:
    if depth > MAX_INCLUDE_DEPTH:
        raise SshConfigError(str(path), 0, "Include", "includes nested too deeply (a loop?)")
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise SshConfigError(str(path), 0, "", f"cannot read: {exc.strerror or exc}") from None
    blocks: list[_Block] = []
    patterns: tuple[str, ...] | None = None
    entries: list[_Entry] = []

    def close() -> None:
        if entries or patterns is not None:
            blocks.append(_Block(patterns, tuple(entries)))

    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        keyword, words = _split(line)
        if keyword == "host":
            close()
            patterns, entries = tuple(words), []
        elif keyword == "match":
            close()
            entries = []
            crit = [w.lower() for w in words]
            if crit == ["all"]:
                patterns = ("*",)
            elif len(crit) == 2 and crit[0] == "host":
                patterns = tuple(words[1].split(","))
            else:
                patterns = ()  # criteria fleet does not evaluate: the block never applies
        elif keyword == "include":
            close()
            for word in words:
                pattern = os.path.expanduser(word)
                if not os.path.isabs(pattern):
                    pattern = str(Path("~/.ssh").expanduser() / pattern)
                for inc in sorted(glob.glob(pattern)):
                    for b in _read(Path(inc), depth + 1):
                        # an Include inside a Host block applies only to that block's hosts
                        blocks.append(b if patterns is None else _Block(patterns, b.entries))
            entries = []
        elif keyword in KEYWORDS and words:
            entries.append(
                _Entry(keyword, " ".join(words) if keyword != "proxyjump" else words[0], str(path), n)
            )
    close()
    return blocks


@functools.lru_cache(maxsize=32)
def _load(path: str, _version: tuple[int, int]) -> tuple[_Block, ...]:
    return tuple(_read(Path(path)))


def load(path: Path) -> tuple[_Block, ...]:
    """Parsed once per file version: an inventory of 1,000 devices reads the config once."""
    try:
        st = path.stat()
    except OSError as exc:
        raise SshConfigError(str(path), 0, "", f"cannot read: {exc.strerror or exc}") from None
    return _load(str(path), (st.st_mtime_ns, st.st_size))


def _matches(patterns: tuple[str, ...] | None, host: str) -> bool:
    if patterns is None:
        return True
    hit = False
    for p in patterns:
        if p.startswith("!"):
            if fnmatch.fnmatchcase(host, p[1:]):
                return False
        elif fnmatch.fnmatchcase(host, p):
            hit = True
    return hit


def resolve(path: Path, host: str) -> Resolved:
    """The six keywords for ``host`` (the name given to ssh, matched against Host patterns)."""
    values: dict[str, tuple[str, str]] = {}
    identities: list[tuple[str, str]] = []
    for block in load(path):
        if not _matches(block.patterns, host):
            continue
        for e in block.entries:
            where = f"{e.path}:{e.line}"
            if e.keyword == "identityfile":
                identities.append((e.value, where))
            else:
                values.setdefault(e.keyword, (e.value, where))
    return Resolved(values, tuple(identities))


def expand(value: str, *, host: str, original: str, user: str, port: int) -> str:
    """OpenSSH tokens in IdentityFile/HostName: %h %n %r %p %u %d %%, and a leading ``~``."""
    tokens = {
        "h": host,
        "n": original,
        "r": user,
        "p": str(port),
        "u": _local_user(),
        "d": str(Path.home()),
        "%": "%",
    }
    out, i = [], 0
    while i < len(value):
        c = value[i]
        if c == "%" and i + 1 < len(value):
            out.append(tokens.get(value[i + 1], value[i : i + 2]))
            i += 2
        else:
            out.append(c)
            i += 1
    return os.path.expanduser("".join(out))


def _local_user() -> str:
    try:
        import pwd

        return pwd.getpwuid(os.getuid()).pw_name
    except (ImportError, KeyError):
        return os.environ.get("USER", "")


def default_path() -> Path | None:
    """``~/.ssh/config`` when it exists (the default of the inventory key ``ssh_config``)."""
    p = Path("~/.ssh/config").expanduser()
    return p if p.is_file() else None
