"""Base URLs in the one form a key's endpoint is compared in.

A key goes to a URL only if that URL is an endpoint of the key's connection. The comparison
must not be fooled by spelling (case, default ports, trailing slashes) nor by a URL that two
parsers read differently (`user@host`, backslashes, fragments): only plain
`http(s)://host[:port]/path` URLs are compared at all.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

# What an endpoint may look like: scheme, a plain host (or a bracketed IPv6), port, path. No
# user:password@, query, fragment, backslash or space, so every URL parser reads the same host.
_PLAIN_URL = re.compile(
    r"(?i)(https?)://([a-z0-9.-]+|\[[0-9a-f:.]+\])(?::([0-9]{1,5}))?(/[A-Za-z0-9._~/-]*)?"
)
_DEFAULT_PORTS = {"http": 80, "https": 443}


def canonical_endpoint(url: str) -> str | None:
    """`url` in the one form endpoints are compared in, or None if it is not a plain http(s)
    URL. Scheme and host are case-insensitive and a default port is the same as none (RFC
    3986); the path is case-sensitive, and trailing slashes do not count (the SDK adds one)."""
    match = _PLAIN_URL.fullmatch(url.strip())
    if match is None:
        return None
    scheme, host, port, path = match.groups()
    scheme, host = scheme.lower(), host.lower().rstrip(".")
    if not host or host.startswith(".") or ".." in host:
        return None
    number = int(port) if port else _DEFAULT_PORTS[scheme]
    if not 0 < number < 65536:
        return None
    shown = "" if number == _DEFAULT_PORTS[scheme] else f":{number}"
    return f"{scheme}://{host}{shown}{(path or '').rstrip('/')}"


def is_loopback(url: str | None) -> bool:
    """Whether a plain URL names this machine (where the local and test servers listen)."""
    canonical = canonical_endpoint(url or "")
    host = urlsplit(canonical).hostname if canonical else None
    if host == "localhost":
        return True
    try:  # an address, not a name that merely starts like one (127.0.0.1.example.com)
        return host is not None and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
