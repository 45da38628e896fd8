"""The simulated agents' HTTP client: answers, Retry-After, and each kind of missing answer."""

from __future__ import annotations

import socket
import threading
from contextlib import closing

import pytest

from harness.storm import wire


class OneShot:
    """A loopback server that answers each connection with ``reply`` (bytes), or closes it."""

    def __init__(self, reply: bytes | None) -> None:
        self.reply = reply
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.requests: list[bytes] = []
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self) -> None:
        conn, _ = self.sock.accept()
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                data += conn.recv(4096)
            head, _, body = data.partition(b"\r\n\r\n")
            length = int([line.split(b":")[1] for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length")][0])
            while len(body) < length:
                body += conn.recv(4096)
            self.requests.append(head + b"\r\n\r\n" + body)
            if self.reply is not None:
                conn.sendall(self.reply)

    def close(self) -> None:
        self.thread.join(5)
        self.sock.close()


def test_post_json_and_read_the_answer():
    server = OneShot(b'HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\nRetry-After: 3\r\n'
                     b'Connection: close\r\n\r\n{"error": "over_capacity"}')
    answer = wire.request("127.0.0.1", server.port, "POST", "/v1/register", {"node_id": "n1", "attempt": 2})
    server.close()
    assert answer.status == 429 and answer.retry_after == "3" and answer.body == {"error": "over_capacity"}
    sent = server.requests[0]
    assert sent.startswith(b"POST /v1/register HTTP/1.1\r\n") and b"Connection: close" in sent
    assert sent.endswith(b'{"node_id":"n1","attempt":2}')


def test_no_answer_kinds():
    server = OneShot(None)  # reads the request, closes without answering (the center's `down`)
    answer = wire.request("127.0.0.1", server.port, "GET", "/v1/registry")
    server.close()
    assert answer.status is None and answer.error == "empty reply"
    with closing(socket.socket()) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, not listening: refused
        answer = wire.request("127.0.0.1", port, "POST", "/v1/register", {})
    assert answer.status is None and answer.error == "connection refused"


def test_parse_and_split_url():
    assert wire.parse(b"HTTP/1.1 200 OK\r\n\r\n").status == 200
    assert wire.parse(b"garbage").error == "malformed answer"
    assert wire.parse(b"HTTP/1.1 503 x\r\n\r\nnot json").body is None
    assert wire.split_url("http://localhost:8080") == ("127.0.0.1", 8080)
    with pytest.raises(ValueError):
        wire.split_url("https://127.0.0.1:1")
