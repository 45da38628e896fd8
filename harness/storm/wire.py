"""A tiny HTTP/1.1 client for the simulated agents: one TCP connection per request and
``Connection: close``, as the reference agent does (its urllib requests), JSON in and out.

Plain ``socket``: inside locust (gevent monkey-patched) every call yields to the other agents.
Measured under gevent on this 2-core host, client CPU per request against the center on
loopback (a connection refused: 78 µs): this client 145-150 µs (the bare socket calls alone,
no parsing: 116 µs); the same with ``socket.create_connection`` 204 µs (its name resolution goes
through gevent's resolver even for an IP literal); geventhttpclient, one client per request with
``Connection: close``, 277-307 µs. So the host is resolved once
(:func:`split_url`) and each request connects to the IP. Reading to EOF is all the framing a
``Connection: close`` answer needs. Failures are answers with
``status=None`` and a short ``error``: ``connection refused``, ``connect timed out``,
``timed out``, ``connection reset``, ``empty reply`` (the peer closed without answering).
"""

from __future__ import annotations

import json
import socket
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit


@dataclass
class Answer:
    status: int | None
    body: Any = None
    retry_after: str | None = None
    error: str | None = None


def split_url(url: str) -> tuple[str, int]:
    """``http://HOST:PORT`` -> (IPv4 address of HOST, PORT), resolved once here."""
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise ValueError(f"not an http://HOST:PORT URL: {url!r}")
    return socket.gethostbyname(parts.hostname), parts.port or 80


def request(ip: str, port: int, method: str, path: str, body: Any = None, timeout_s: float = 2.0) -> Answer:
    """One request on a fresh connection to ``ip`` (an IPv4 address, see :func:`split_url`).
    ``timeout_s`` bounds the connect and each read."""
    data = b"" if body is None else json.dumps(body, separators=(",", ":")).encode()
    head = (f"{method} {path} HTTP/1.1\r\nHost: {ip}:{port}\r\nConnection: close\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n").encode()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(timeout_s)
    try:
        sock.connect((ip, port))
    except ConnectionRefusedError:
        sock.close()
        return Answer(None, error="connection refused")
    except socket.timeout:
        sock.close()
        return Answer(None, error="connect timed out")
    except OSError as exc:
        sock.close()
        return Answer(None, error=f"connect: {exc.strerror or exc}")
    chunks = []
    try:
        sock.sendall(head + data)
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    except socket.timeout:
        return Answer(None, error="timed out")
    except ConnectionResetError:
        if not chunks:
            return Answer(None, error="connection reset")
    except OSError as exc:
        return Answer(None, error=f"{exc.strerror or exc}")
    finally:
        sock.close()
    return parse(b"".join(chunks))


def parse(raw: bytes) -> Answer:
    """Status, JSON body and Retry-After of a whole HTTP/1.x answer."""
    if not raw:
        return Answer(None, error="empty reply")
    head, _sep, payload = raw.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    try:
        status = int(lines[0].split()[1])
    except (IndexError, ValueError):
        return Answer(None, error="malformed answer")
    retry_after = None
    for line in lines[1:]:
        name, _colon, value = line.partition(b":")
        if name.strip().lower() == b"retry-after":
            retry_after = value.strip().decode(errors="replace")
    try:
        parsed = json.loads(payload) if payload else None
    except ValueError:
        parsed = None
    return Answer(status, parsed, retry_after)
