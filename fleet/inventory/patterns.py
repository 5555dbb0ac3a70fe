"""``--only`` / ``--limit`` host patterns, read the way ``ansible --limit`` reads them. Pure.

One pattern (one ``--only`` value) is a list of terms separated by ``,`` -- or, when it holds no
``,``, by ``:`` (and whitespace), as Ansible splits them; a bracketed ``[...]`` stays whole, and a
pattern that is an IPv6 address is one term. Each term is a device name, group name or tag, or a
glob over them (``fnmatch``, case-sensitive: ``*``, ``?``, ``[...]``); ``all`` is every device.
``!term`` removes the devices it matches, ``&term`` keeps only those it matches. As in Ansible the
plain terms are taken first (their union), then the ``&`` terms, then the ``!`` terms, whatever the
order written; a pattern of ``&`` and ``!`` terms alone starts from ``all``. Several patterns
(``--only`` given several times) select the union of what each selects.

A pattern that is exactly a device name, group name or tag is that one name, whatever it holds
(``,``, ``:``, ``*``, a leading ``!``): what selected a device before patterns existed still
selects exactly the same devices. Not supported: Ansible's ``~regex`` terms, ``group[0:2]``
subscripts and ``@file`` (such a term is matched as a glob and, matching nothing, warned about).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Generic, Protocol, TypeVar

ALL = "all"

# Ansible's colon split (ansible.inventory.manager.split_host_pattern): runs of anything but
# whitespace, ':' and brackets, or whole bracketed expressions.
_COLON_TERMS = re.compile(r"(?:[^\s:\[\]]|\[[^\]]*\])+")


class Selectable(Protocol):
    """A device as selection sees it (inventory ``Device``, the store's ``DeviceRow``)."""

    @property
    def name(self) -> str: ...

    @property
    def groups(self) -> Sequence[str]: ...

    @property
    def tags(self) -> Sequence[str]: ...


S = TypeVar("S", bound=Selectable)


@dataclass(frozen=True)
class Selection(Generic[S]):
    """What some patterns select, and what in them matched nothing (for warnings and errors)."""

    devices: tuple[S, ...]  # in the order given, each once
    empty_patterns: tuple[str, ...] = ()  # whole patterns that select no device
    unmatched_terms: tuple[tuple[str, str], ...] = ()  # (pattern, term) matching no device at all

    def warnings(self) -> list[str]:
        """One line per pattern or term that matched nothing, as Ansible warns (when something
        else was selected; when nothing was, the caller fails instead)."""
        lines = [f"--only {p}: {t} matches no device, ignored" for p, t in self.unmatched_terms]
        lines += [f"--only {p} selects no device" for p in self.empty_patterns]
        return lines


def split_pattern(pattern: str) -> list[str]:
    """The terms of one pattern, Ansible's way: on ``,`` if it has one, else on ``:`` and
    whitespace (keeping ``[...]`` whole), unless the whole pattern is an IPv6 address."""
    if "," in pattern:
        parts = pattern.split(",")
    elif _is_ipv6(pattern.strip()):
        parts = [pattern]
    else:
        parts = _COLON_TERMS.findall(pattern)
    return [p.strip() for p in parts if p.strip()]


def _is_ipv6(text: str) -> bool:
    try:
        address = ipaddress.ip_address(text.removeprefix("[").removesuffix("]"))
    except ValueError:
        return False
    return isinstance(address, ipaddress.IPv6Address)


def ordered_terms(terms: Iterable[str]) -> list[str]:
    """Ansible's order (``order_patterns``): plain terms, then ``&`` terms, then ``!`` terms; with
    no plain term, ``all`` first."""
    terms = list(terms)
    plain = [t for t in terms if t[0] not in "!&"]
    both = [t for t in terms if t[0] == "&"]
    minus = [t for t in terms if t[0] == "!"]
    if terms and not plain:
        plain = [ALL]
    return plain + both + minus


def term_matches(term: str, device: Selectable) -> bool:
    """A bare term (no ``!``/``&``): ``all``, or the device's name, a group or a tag equal to it or
    matching it as a case-sensitive glob."""
    if term == ALL:
        return True
    return any(v == term or fnmatchcase(v, term) for v in _names(device))


def _names(device: Selectable) -> Iterable[str]:
    yield device.name
    yield from device.groups
    yield from device.tags


def select(patterns: Sequence[str] | None, devices: Sequence[S]) -> Selection[S]:
    """The devices any of ``patterns`` selects, in ``devices``' order (all of them without any)."""
    if not patterns:
        return Selection(tuple(devices))
    literal = {v for d in devices for v in _names(d)}
    chosen: set[int] = set()
    empty: list[str] = []
    unmatched: list[tuple[str, str]] = []
    for pattern in patterns:
        if pattern in literal:  # today's meaning, exactly: one name, group or tag
            picked = {i for i, d in enumerate(devices) if pattern in _names(d)}
        else:
            picked, missing = _evaluate(split_pattern(pattern), devices)
            unmatched += [(pattern, t) for t in missing]
        if not picked:
            empty.append(pattern)
        chosen |= picked
    return Selection(tuple(d for i, d in enumerate(devices) if i in chosen), tuple(empty), tuple(unmatched))


def _evaluate(terms: list[str], devices: Sequence[Selectable]) -> tuple[set[int], list[str]]:
    """Indexes of the devices one split pattern selects, and its terms that match no device."""
    hosts: set[int] = set()
    missing: list[str] = []
    for term in ordered_terms(terms):
        op, bare = (term[0], term[1:]) if term[0] in "!&" else ("", term)
        that = {i for i, d in enumerate(devices) if term_matches(bare, d)}
        if not that and bare != ALL:
            missing.append(bare or term)
        if op == "!":
            hosts -= that
        elif op == "&":
            hosts &= that
        else:
            hosts |= that
    return hosts, missing
