"""Raw-socket conversations at other clients' versions (ib_async asks 178, the official ibapi 157)."""

from __future__ import annotations

import socket

import pytest

from engine.brokers.tws_sim.codec import decode_payload, encode_frame, encode_raw_frame


def _read_message(sock: socket.socket) -> list[str]:
    head = _read_exactly(sock, 4)
    return decode_payload(_read_exactly(sock, int.from_bytes(head, "big")))


def _read_exactly(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    return data


@pytest.mark.parametrize(("offer", "version", "error_fields"), [("v157..178", 178, 6), ("v100..157", 157, 5)])
def test_handshake_then_nothing_until_start_api(
    port: int, offer: str, version: int, error_fields: int
) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=2.0) as sock:
        sock.sendall(b"API\0" + encode_raw_frame(offer))
        reply = _read_message(sock)
        assert len(reply) == 2 and reply[0] == str(version)
        sock.settimeout(0.2)
        with pytest.raises(TimeoutError):
            sock.recv(1)  # nothing before startApi (the official client would drop it)
        sock.settimeout(2.0)
        sock.sendall(encode_frame([71, 2, 11, ""]))
        assert _read_message(sock) == ["15", "1", "DU1234567"]
        assert _read_message(sock) == ["9", "1", "1"]
        notice = _read_message(sock)
        assert notice[:4] == ["4", "2", "-1", "2104"] and len(notice) == error_fields
        _read_message(sock)
        _read_message(sock)
        # reqExecutions at this version: execDetailsEnd answers even with no fills
        sock.sendall(encode_frame([7, 3, 42, 0, "", "", "", "", "", ""]))
        assert _read_message(sock) == ["55", "1", "42"]


def test_no_version_overlap_closes_the_socket(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=2.0) as sock:
        sock.sendall(b"API\0" + encode_raw_frame("v100..150"))
        assert sock.recv(16) == b""
