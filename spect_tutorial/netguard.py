"""A guard that refuses outbound network connections (loopback stays allowed).

The package never needs the network at run time: phantoms, weights and data
ship with the repository. The test session and every chapter kernel run with
this guard installed, so code that tries to download something fails loudly
instead of depending on a network a classroom or a hospital may not have.

Only Python-level sockets are guarded (``socket.socket.connect``,
``connect_ex`` and ``sendto``); Unix-domain sockets and the loopback addresses
(127.0.0.0/8, ::1, ``localhost``) are allowed, so Jupyter's own kernel
connections keep working.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

__all__ = ["NetworkAccessError", "install", "is_installed", "uninstall"]


class NetworkAccessError(ConnectionRefusedError):
    """Raised instead of opening a connection to a non-loopback address."""


_ORIGINALS: dict[str, Any] = {}


def _is_loopback(address: Any, family: int) -> bool:
    if family == getattr(socket, "AF_UNIX", None):
        return True
    if not isinstance(address, tuple) or not address:
        return False
    host = str(address[0])
    if host in {"localhost", "ip6-localhost"}:
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:  # a host name other than localhost: refuse, resolving it is network use
        return False


def _refuse(address: Any) -> None:
    raise NetworkAccessError(
        f"network access to {address!r} refused: spect_tutorial runs offline "
        "(only loopback connections are allowed; see spect_tutorial.netguard)"
    )


def _guarded_connect(self: socket.socket, address: Any) -> Any:
    if not _is_loopback(address, self.family):
        _refuse(address)
    return _ORIGINALS["connect"](self, address)


def _guarded_connect_ex(self: socket.socket, address: Any) -> Any:
    if not _is_loopback(address, self.family):
        _refuse(address)
    return _ORIGINALS["connect_ex"](self, address)


def _guarded_sendto(self: socket.socket, data: Any, *args: Any) -> Any:
    address = args[-1]
    if not _is_loopback(address, self.family):
        _refuse(address)
    return _ORIGINALS["sendto"](self, data, *args)


def install() -> None:
    """Refuse outbound (non-loopback) connections from now on in this process."""
    if is_installed():
        return
    for name, guard in (
        ("connect", _guarded_connect),
        ("connect_ex", _guarded_connect_ex),
        ("sendto", _guarded_sendto),
    ):
        _ORIGINALS[name] = getattr(socket.socket, name)
        setattr(socket.socket, name, guard)


def is_installed() -> bool:
    """Whether the guard is active in this process."""
    return socket.socket.connect is _guarded_connect


def uninstall() -> None:
    """Restore the original socket methods."""
    for name, original in _ORIGINALS.items():
        setattr(socket.socket, name, original)
    _ORIGINALS.clear()
