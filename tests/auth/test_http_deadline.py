"""The response head's deadline cuts the socket under whatever layers wrap it."""

from __future__ import annotations

import socket

from urllib3.util.ssltransport import SSLTransport

from auth.http_deadline import _HTTPSConnection


class _Tunnelled:
    """What urllib3 hands a connection through an ``https://`` proxy: an ``SSLTransport``
    (TLS inside the proxy's TLS), which has no ``shutdown``, over the socket."""

    def __init__(self, sock: socket.socket) -> None:
        self.socket = sock


def test_the_cut_reaches_the_socket_under_a_tls_in_tls_transport():
    assert not hasattr(SSLTransport, "shutdown")  # why the cut must look underneath
    ours, peer = socket.socketpair()
    try:
        connection = _HTTPSConnection("issuer.example")
        connection.sock = _Tunnelled(ours)
        connection._cut()  # before: AttributeError in the timer thread, and no cut
        ours.settimeout(2)
        assert ours.recv(1) == b""  # our read side is shut: a read in progress ends
    finally:
        ours.close()
        peer.close()
