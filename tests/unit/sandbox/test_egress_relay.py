"""The agent's end of egress, run as it ships: real TCP clients on 127.0.0.1 connect to
its listener, and the test plays the host, frame by frame."""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import struct
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from sandbox.exec_agent import FRAME_CREDIT
from tests.unit.sandbox.test_exec_agent import WAIT_S, Client, Frame

pytestmark = pytest.mark.timeout(300)
LISTEN_ID = 900


@pytest.fixture
def agent() -> Iterator[Client]:
    client = Client()
    yield client
    client.close()


def listen(agent: Client, **opts: Any) -> int:
    agent.send({"type": "tcp_listen", "id": LISTEN_ID, "port": 0, **opts})
    header, _ = agent.next_for(LISTEN_ID)
    assert header["type"] == "tcp_listening", header
    return int(header["port"])


def conn_frame(agent: Client, kind: str | None = None) -> Frame:
    """The next frame of a connection (they carry no id), of ``kind`` if given."""
    while True:
        frame = agent.next_for(None)
        if kind is None or frame[0]["type"] == kind:
            return frame


def data_until(agent: Client, kind: str) -> tuple[bytes, dict[str, Any]]:
    """The bytes of the tcp_data frames before the next ``kind`` frame, and that frame."""
    got = bytearray()
    while True:
        header, payload = conn_frame(agent)
        if header["type"] == kind:
            return bytes(got), header
        assert header["type"] == "tcp_data", header
        got += payload


def client(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=WAIT_S)
    return sock


def read_all(sock: socket.socket) -> bytes:
    got = bytearray()
    while data := sock.recv(1 << 16):
        got += data
    return bytes(got)


def test_a_connection_carries_bytes_both_ways_and_half_closes(agent: Client) -> None:
    port = listen(agent)
    sock = client(port)
    opened, _ = conn_frame(agent)
    assert opened["type"] == "tcp_open" and opened["conn"] == 1
    assert opened["peer"] == list(sock.getsockname())
    sock.sendall(b"GET / HTTP/1.1\r\n\r\n")
    sock.shutdown(socket.SHUT_WR)  # the client half-closes: the answer still comes back
    request, eof = data_until(agent, "tcp_eof")
    assert (request, eof["conn"]) == (b"GET / HTTP/1.1\r\n\r\n", 1)
    agent.send({"type": "tcp_data", "conn": 1}, b"HTTP/1.1 200 OK\r\n\r\nbody")
    agent.send({"type": "tcp_eof", "conn": 1})
    assert read_all(sock) == b"HTTP/1.1 200 OK\r\n\r\nbody"
    agent.send({"type": "tcp_close", "conn": 1})
    sock.close()
    agent.send({"type": "ping", "id": 7})
    assert agent.next_for(7)[0]["type"] == "pong"
    assert not [f for f in agent.stash[None] if f[0]["type"] == "tcp_close"]  # none echoed


def test_the_agent_sends_no_more_than_its_credit(agent: Client) -> None:
    window = 64 * 1024
    port = listen(agent, up_window=window)
    sock = client(port)
    conn_frame(agent, "tcp_open")
    upload = os.urandom(1 << 20)
    sender = threading.Thread(target=sock.sendall, args=(upload,), daemon=True)
    sender.start()
    granted, spent, got = window, 0, bytearray()
    while len(got) < len(upload):
        header, payload = conn_frame(agent)
        assert header["type"] == "tcp_data", header
        spent += len(payload) + FRAME_CREDIT
        assert spent <= granted, f"{spent} bytes sent with {granted} granted"
        got += payload
        if granted - spent < window // 2:  # the host takes its time, then grants a little
            agent.send({"type": "tcp_credit", "conn": 1, "bytes": window // 2})
            granted += window // 2
    sender.join(WAIT_S)
    assert bytes(got) == upload
    sock.close()


def test_the_agent_grants_credit_as_its_socket_takes_the_hosts_bytes(agent: Client) -> None:
    window = 128 * 1024
    port = listen(agent, down_window=window)
    sock = client(port)
    conn_frame(agent, "tcp_open")
    download = os.urandom(4 << 20)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(read_all(sock)), daemon=True)
    reader.start()
    credit, offset = window, 0
    while offset < len(download):
        size = min(16 * 1024, credit - FRAME_CREDIT)
        if size <= 0:  # the window is spent: only the agent's grant lets the host go on
            header, _ = conn_frame(agent, "tcp_credit")
            credit += header["bytes"]
            continue
        agent.send({"type": "tcp_data", "conn": 1}, download[offset : offset + size])
        credit -= size + FRAME_CREDIT
        offset += size
    agent.send({"type": "tcp_eof", "conn": 1})
    reader.join(WAIT_S)
    assert received == [download]
    sock.close()


def test_a_close_with_an_error_resets_the_client(agent: Client) -> None:
    port = listen(agent)
    sock = client(port)
    conn_frame(agent, "tcp_open")
    agent.send({"type": "tcp_close", "conn": 1, "error": "upstream refused the connection"})
    with pytest.raises(ConnectionResetError):
        read_all(sock)
    sock.close()


def test_a_client_reset_is_reported_with_its_reason(agent: Client) -> None:
    port = listen(agent)
    sock = client(port)
    conn_frame(agent, "tcp_open")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()  # a reset, not a half-close
    closed, _ = conn_frame(agent, "tcp_close")
    assert closed["conn"] == 1 and "ConnectionResetError" in closed["error"]


def test_connections_past_the_cap_are_reset_and_numbers_never_reused(agent: Client) -> None:
    port = listen(agent, max_conns=2)
    first, second = client(port), client(port)
    assert conn_frame(agent, "tcp_open")[0]["conn"] == 1
    assert conn_frame(agent, "tcp_open")[0]["conn"] == 2
    third = client(port)
    with pytest.raises(ConnectionResetError):
        read_all(third)
    agent.send({"type": "tcp_close", "conn": 1})
    assert read_all(first) == b""
    fourth = client(port)
    assert conn_frame(agent, "tcp_open")[0]["conn"] == 3
    for sock in (first, second, third, fourth):
        sock.close()


def test_no_other_process_can_take_the_port(agent: Client) -> None:
    port = listen(agent)
    thief = socket.socket()
    thief.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    with pytest.raises(OSError) as caught:
        thief.bind(("127.0.0.1", port))
    assert caught.value.errno == errno.EADDRINUSE
    thief.close()


def test_what_the_relay_cannot_do_is_refused_and_the_agent_goes_on(agent: Client) -> None:
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    agent.send({"type": "tcp_listen", "id": 1, "port": taken.getsockname()[1]})
    header, _ = agent.next_for(1)
    assert header["type"] == "error" and "cannot listen" in header["message"]
    agent.send({"type": "tcp_listen", "id": 2, "port": 0, "down_window": 10})
    header, _ = agent.next_for(2)
    assert header["type"] == "error" and "down_window" in header["message"]
    listen(agent)
    agent.send({"type": "tcp_listen", "id": 3, "port": 0})
    header, _ = agent.next_for(3)
    assert header["type"] == "error" and "already listens" in header["message"]
    agent.send({"type": "tcp_data", "conn": 99}, b"to nobody")  # a connection gone: ignored
    agent.send({"type": "tcp_credit", "conn": 99, "bytes": -5})
    header, _ = agent.next_for(None)
    assert header["type"] == "error" and "invalid credit" in header["message"]
    agent.send({"type": "ping", "id": 4})
    assert agent.next_for(4)[0]["type"] == "pong"
    taken.close()


def test_the_agent_resets_its_connections_when_it_stops(agent: Client) -> None:
    port = listen(agent)
    sock = client(port)
    conn_frame(agent, "tcp_open")
    assert agent.close() == 0
    with contextlib.suppress(ConnectionResetError):
        assert read_all(sock) == b""
    with pytest.raises(ConnectionRefusedError):
        client(port)
    sock.close()
