#!/usr/bin/env python3
"""A STARTTLS test server: speaks the plain-text part of smtp, imap, pop3, ftp
or postgres on 127.0.0.1, upgrades with python3's ssl module, then echoes.

Usage: starttls_server.py PROTOCOL PORT CERT KEY [refuse]
Prints "ready" once it listens. Serves connections one after another until killed.
"""
import socket
import ssl
import sys

protocol, port, cert, key = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
refuse = len(sys.argv) > 5 and sys.argv[5] == "refuse"

context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(cert, key)


def readline(sock):
    """Reads one line byte by byte (the client's hello must stay in the socket)."""
    data = b""
    while not data.endswith(b"\n"):
        b = sock.recv(1)
        if not b:
            raise EOFError("client closed")
        data += b
        if len(data) > 4096:
            raise ValueError("line too long")
    return data


def plain(sock):
    """The plain part; returns True when TLS should start."""
    if protocol == "smtp":
        sock.sendall(b"220-test.example ESMTP tcpc test\r\n220 ready\r\n")
        line = readline(sock)
        if not line.upper().startswith(b"EHLO"):
            sock.sendall(b"500 expected EHLO\r\n")
            return False
        if refuse:
            sock.sendall(b"250-test.example\r\n250 8BITMIME\r\n")
            return False
        sock.sendall(b"250-test.example greets you\r\n250-PIPELINING\r\n250-STARTTLS\r\n250 8BITMIME\r\n")
        if readline(sock).strip().upper() != b"STARTTLS":
            sock.sendall(b"500 expected STARTTLS\r\n")
            return False
        sock.sendall(b"220 2.0.0 Ready to start TLS\r\n")
    elif protocol == "imap":
        sock.sendall(b"* OK [CAPABILITY IMAP4rev1 STARTTLS] tcpc test ready\r\n")
        line = readline(sock)
        tag = line.split(b" ", 1)[0]
        if refuse:
            sock.sendall(tag + b" BAD STARTTLS not available\r\n")
            return False
        sock.sendall(b"* NOTE untagged line first\r\n" + tag + b" OK Begin TLS negotiation now\r\n")
    elif protocol == "pop3":
        sock.sendall(b"+OK tcpc test POP3 ready\r\n")
        readline(sock)
        if refuse:
            sock.sendall(b"-ERR STLS not available\r\n")
            return False
        sock.sendall(b"+OK Begin TLS negotiation\r\n")
    elif protocol == "ftp":
        sock.sendall(b"220-tcpc test FTP\r\n220 ready\r\n")
        readline(sock)
        if refuse:
            sock.sendall(b"500 AUTH not understood\r\n")
            return False
        sock.sendall(b"234 AUTH TLS successful\r\n")
    elif protocol == "postgres":
        request = b""
        while len(request) < 8:
            chunk = sock.recv(8 - len(request))
            if not chunk:
                return False
            request += chunk
        if request != b"\x00\x00\x00\x08\x04\xd2\x16\x2f":
            return False
        if refuse:
            sock.sendall(b"N")
            return False
        sock.sendall(b"S")
    return True


def serve(conn):
    try:
        if not plain(conn):
            return
        tls = context.wrap_socket(conn, server_side=True)
        try:
            while True:
                data = tls.recv(65536)
                if not data:
                    break
                tls.sendall(data)
        finally:
            try:
                tls.close()
            except OSError:
                pass
    except (OSError, EOFError, ValueError, ssl.SSLError):
        pass
    finally:
        conn.close()


listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind(("127.0.0.1", port))
listener.listen(8)
try:
    print("ready", flush=True)
except BrokenPipeError:
    pass
while True:
    conn, _ = listener.accept()
    serve(conn)
