"""Writes the CopyData messages of a logical replication stream as hex, one per line.

A minimal frontend/backend protocol 3 client (unix socket, trust authentication, no
dependencies): it opens a replication=database connection, runs
START_REPLICATION SLOT <slot> LOGICAL 0/0 (<options>), and records every CopyData message
the server sends (the whole 'w' frame: tag, XLogData header, pgoutput message) until a
non-transactional logical message with prefix "frazil-end" arrives. Keepalives ('k') are
dropped: they depend on timing. Used by capture.sh.

usage: capture.py <socket path> <slot> <options> <output file>
"""
import socket
import struct
import sys


def main():
    sock_path, slot, options, out_path = sys.argv[1:5]
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.connect(sock_path)
    pending = bytearray()

    def recv_exact(n):
        while len(pending) < n:
            chunk = conn.recv(65536)
            if not chunk:
                raise SystemExit("server closed the connection")
            pending.extend(chunk)
        out = bytes(pending[:n])
        del pending[:n]
        return out

    def read_message():
        tag = recv_exact(1)
        (length,) = struct.unpack("!i", recv_exact(4))
        body = recv_exact(length - 4)
        if tag == b"E":
            raise SystemExit("server error: %r" % body)
        return tag, body

    def send(tag, body):
        conn.sendall(tag + struct.pack("!i", len(body) + 4) + body)

    startup = struct.pack("!i", 3 << 16) + (
        b"user\0postgres\0database\0postgres\0replication\0database\0\0")
    conn.sendall(struct.pack("!i", len(startup) + 4) + startup)
    server_version = "?"
    while True:
        tag, body = read_message()
        if tag == b"S" and body.startswith(b"server_version\0"):
            server_version = body.split(b"\0")[1].decode()
        if tag == b"Z":
            break

    query = "START_REPLICATION SLOT %s LOGICAL 0/0 (%s)" % (slot, options)
    send(b"Q", query.encode() + b"\0")
    tag, body = read_message()
    if tag != b"W":
        raise SystemExit("expected CopyBothResponse, got %r" % tag)

    frames = []
    while True:
        tag, body = read_message()
        if tag != b"d" or body[:1] == b"k":
            continue
        frames.append(body.hex())
        payload = body[25:]
        if payload[:1] == b"M" and payload[1:2] == b"\0" and b"frazil-end\0" in payload:
            break
    send(b"c", b"")
    conn.close()

    with open(out_path, "w") as f:
        f.write("# PostgreSQL %s, %s\n" % (server_version, query))
        f.write("# One CopyData message from the server per line, hex; keepalives dropped.\n")
        for frame in frames:
            f.write(frame + "\n")
    print("%s: %d messages" % (out_path, len(frames)))


if __name__ == "__main__":
    main()
