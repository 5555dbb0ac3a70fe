"""Where a store is (a directory, or a ``postgresql://`` URL) and how to name it without its passwords."""

from __future__ import annotations

import os
import re
import socket
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlencode

DEFAULT_STORE = "fleet-data"
DB_NAME = "fleet.db"

URL_SCHEMES = ("postgresql://", "postgres://")
CONNINFO_SECRET = re.compile(r"(?:^|\s)(?:ssl)?password\s*=", re.IGNORECASE)  # libpq key=value form
SECRET_PARAMETERS = ("password", "sslpassword")  # libpq's connection parameters that hold secrets


def is_url(location: str | os.PathLike[str]) -> bool:
    """A PostgreSQL URL rather than a store directory."""
    return isinstance(location, str) and location.startswith(URL_SCHEMES)


def store_dir(explicit: str | os.PathLike[str] | None) -> Path:
    """``--store``, else ``$FLEET_STORE``, else ``./fleet-data`` (directory stores only)."""
    return Path(explicit or os.environ.get("FLEET_STORE") or DEFAULT_STORE)


def store_location(explicit: str | os.PathLike[str] | None) -> Path | str:
    """Like :func:`store_dir`, but a ``postgresql://`` URL stays a string (a Path would mangle ``//``)."""
    value = explicit or os.environ.get("FLEET_STORE") or DEFAULT_STORE
    return value if isinstance(value, str) and is_url(value) else Path(value)


def default_collector() -> str:
    """What a collector is called unless ``--collector`` says otherwise: its hostname."""
    return socket.gethostname() or "collector"


def _split(url: str) -> tuple[str, str | None, str, str]:
    """(scheme://, the userinfo's password or None, the rest before the query, the query). As in
    libpq, the userinfo ends before the first '/', not at '?' or '#' (urlsplit's cut would show
    the rest of such a password); at its last '@' (libpq: the first), so all of an unencoded
    'p@ss' is hidden, not only the 'p' libpq reads."""
    scheme, sep, rest = url.partition("://")
    authority = rest.split("/", 1)[0]
    password = None
    if "@" in authority:
        userinfo, rest = rest[: authority.rindex("@")], rest[authority.rindex("@") + 1 :]
        user, colon, secret = userinfo.partition(":")
        password = secret if colon else None
        rest = f"{user}@{rest}"
    before, _, query = rest.partition("?")
    return scheme + sep, password, before, query


def redact(url: str) -> str:
    """The URL without its passwords (userinfo, ``password``, ``sslpassword``), for messages,
    reports and the sweep summaries that name the store."""
    head, _, before, query = _split(url)
    kept = [(k, v) for k, v in parse_qsl(query) if k.lower() not in SECRET_PARAMETERS]
    return head + before + ("?" + urlencode(kept, safe="/") if kept else "")


def secrets(url: str) -> list[str]:
    """Every password in ``url`` as typed and percent-decoded, longest first: what an error
    message (libpq quotes the token it could not parse) must not repeat."""
    _, password, _, query = _split(url)
    found = [password] if password else []
    for pair in query.split("&"):
        key, _, value = pair.partition("=")
        if unquote(key).lower() in SECRET_PARAMETERS and value:
            found.append(value)
    forms = {form for raw in found for form in (raw, unquote(raw), *raw.split("@"))}
    return sorted((f for f in forms if f), key=len, reverse=True)


def scrub(text: str, url: str) -> str:
    """``text`` with every form of ``url``'s passwords replaced by ``***``."""
    for secret in secrets(url):
        text = text.replace(secret, "***")
    return text
