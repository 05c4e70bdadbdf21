"""Network addresses as the kiosk judges them: which are this machine
(loopback, also when IPv4 arrives mapped into IPv6, as with ``host = "::"``)
and which belong to the reverse proxies trusted to say who the client is."""

from __future__ import annotations

import ipaddress

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse(address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """An address, with IPv4 mapped into IPv6 (``::ffff:127.0.0.1``) unwrapped; None when it is not one."""
    try:
        ip = ipaddress.ip_address((address or "").split("%", 1)[0])  # an IPv6 zone (fe80::1%eth0) says nothing here
    except ValueError:
        return None
    mapped = getattr(ip, "ipv4_mapped", None)
    return mapped if mapped is not None else ip


def is_loopback(address: str) -> bool:
    """This machine talking to itself: 127.0.0.0/8, ::1, ::ffff:127.x.x.x, or the name localhost."""
    if (address or "").lower() == "localhost":
        return True
    ip = parse(address)
    return ip is not None and ip.is_loopback


def networks(entries: list[str]) -> list[Network]:
    """Addresses or networks (``10.0.0.5``, ``10.0.0.0/24``, ``::1``) as networks; ValueError naming a bad entry."""
    found = []
    for entry in entries:
        try:
            net = ipaddress.ip_network(entry.strip(), strict=False)
        except ValueError:
            raise ValueError(f"{entry!r} is not an address or network such as 127.0.0.1 or 10.0.0.0/24") from None
        found.append(net)
    return found


def within(address: str, nets: list[Network]) -> bool:
    """``address`` (IPv4-mapped unwrapped) is in one of ``nets``."""
    ip = parse(address)
    return ip is not None and any(ip.version == net.version and ip in net for net in nets)
