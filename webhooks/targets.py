"""Where a webhook may be sent: public addresses only, unless a setting allows internal ones (development).

A webhook URL is set by staff, and the first bytes of any answer are kept
where Support can read them, so a URL that points inside our network would be
a way to probe it (server-side request forgery): the cloud metadata service at
169.254.169.254, the database on 127.0.0.1:5432, Redis on localhost:6379.
Loopback, private, link-local, unspecified, multicast and other reserved
addresses are refused, both when the URL is set and before every delivery,
since the name may resolve elsewhere by then.
``WEBHOOK_ALLOW_PRIVATE_TARGETS`` turns the check off, for development and
tests that deliver to a receiver on this machine.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings


def _addresses(host: str, port: int) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    """Every address ``host`` stands for: itself if it is one, else what DNS answers now."""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    # An IPv6 scope (fe80::1%eth0) is not part of the address.
    return [ipaddress.ip_address(info[4][0].split("%", 1)[0]) for info in infos]


def _internal(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    mapped = getattr(address, "ipv4_mapped", None)  # ::ffff:127.0.0.1 is 127.0.0.1
    if mapped is not None:
        address = mapped
    return not address.is_global or address.is_multicast


def webhook_target_problem(url: str) -> str:
    """Why ``url`` must not receive webhooks, in words staff can read; empty when it may."""
    if settings.WEBHOOK_ALLOW_PRIVATE_TARGETS:
        return ""
    parts = urlsplit(url)
    host = (parts.hostname or "").rstrip(".")
    if not host:
        return "the URL has no host"
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        addresses = _addresses(host, port)
    except (OSError, UnicodeError, ValueError):
        return f"the host {host} cannot be resolved"
    internal = sorted({str(a) for a in addresses if _internal(a)})
    if internal or not addresses:
        return f"{host} is an internal address ({', '.join(internal) or 'none'}), not a public one"
    return ""
