"""Length-prefixed messages over a stream socket."""

from __future__ import annotations

import socket
import struct

MAX_MESSAGE = 512 * 1024 * 1024
# A progress message ("PROGRESS" + b"done/total") from the learner's process, sent before a long
# call's answer. No wire message starts so: theirs begins with a header length that is never 0.
PROGRESS = b"\0\0\0\0progress:"


class ConnectionClosed(EOFError):
    pass


class MessageTooLarge(ValueError):
    pass


def send(sock: socket.socket, payload: bytes) -> None:
    sock.sendall(struct.pack("<Q", len(payload)) + payload)


def recv(sock: socket.socket, limit: int = MAX_MESSAGE) -> bytes:
    (size,) = struct.unpack("<Q", _exactly(sock, 8))
    if size > limit:
        raise MessageTooLarge(f"a message of {size} bytes is over the limit of {limit}")
    return _exactly(sock, size)


def _exactly(sock: socket.socket, n: int) -> bytes:
    chunks, left = [], n
    while left:
        chunk = sock.recv(min(left, 1 << 20))
        if not chunk:
            raise ConnectionClosed("the other side closed the connection")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)
