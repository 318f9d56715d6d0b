"""Bare-loop baseline: the least a Python seeder/leecher can do; the 'limit' reference.

Binary frames, 16 requests in flight, SHA-1 per piece + pwrite, whole-file SHA-1 at the end;
pieces stream through a 64 KiB buffer so every pass over the data hits the CPU cache.
seed:  bareloop.py seed FILE PORT PIECE_SIZE   -> prints "READY <port>"
leech: bareloop.py leech HOST PORT OUT_FILE    -> prints "DONE" after both hash checks, exits 0
"""
import hashlib, os, socket, struct, sys, threading

DEPTH, CHUNK = 16, 65536


def recv_exact(sock: socket.socket, view: memoryview) -> None:
    got = 0
    while got < len(view):
        n = sock.recv_into(view[got:])
        if n == 0:
            raise ConnectionError("eof")
        got += n


def serve(conn: socket.socket, fd: int, size: int, piece: int, header: bytes) -> None:
    conn.sendall(struct.pack(">I", len(header)) + header)
    req = bytearray(4)
    while True:
        try:
            recv_exact(conn, memoryview(req))
        except ConnectionError:
            conn.close()
            return
        i = struct.unpack(">I", req)[0]
        n = min(piece, size - i * piece)
        conn.sendall(struct.pack(">II", i, n))
        os.sendfile(conn.fileno(), fd, i * piece, n)  # fine on a blocking socket: sends all n


def seed(path: str, port: int, piece: int) -> None:
    fd, size = os.open(path, os.O_RDONLY), os.path.getsize(path)
    whole, hashes = hashlib.sha1(), []
    with open(path, "rb") as fh:
        while block := fh.read(piece):
            whole.update(block)
            hashes.append(hashlib.sha1(block).digest())
    header = struct.pack(">QI20s", size, piece, whole.digest()) + b"".join(hashes)
    srv = socket.create_server(("127.0.0.1", port))
    print(f"READY {port}", flush=True)
    while True:
        conn, _ = srv.accept()
        threading.Thread(target=serve, args=(conn, fd, size, piece, header), daemon=True).start()


def leech(host: str, port: int, out: str) -> None:
    sock = socket.create_connection((host, port))
    hlen = bytearray(4)
    recv_exact(sock, memoryview(hlen))
    header = bytearray(struct.unpack(">I", hlen)[0])
    recv_exact(sock, memoryview(header))
    size, piece, want = struct.unpack_from(">QI20s", header)
    count = (size + piece - 1) // piece
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    buf, head, whole, sent = memoryview(bytearray(CHUNK)), bytearray(8), hashlib.sha1(), 0
    for _ in range(min(DEPTH, count)):
        sock.sendall(struct.pack(">I", sent)); sent += 1
    for _ in range(count):
        recv_exact(sock, memoryview(head))
        i, n = struct.unpack(">II", head)
        ph = hashlib.sha1()
        for off in range(0, n, CHUNK):  # stream through a cache-sized buffer: one pass
            view = buf[: min(CHUNK, n - off)]
            recv_exact(sock, view)
            ph.update(view)
            whole.update(view)  # one connection, requests in order: pieces arrive in order
            os.pwrite(fd, view, i * piece + off)
        if ph.digest() != header[32 + 20 * i : 52 + 20 * i]:
            sys.exit(f"piece {i} failed its hash")
        if sent < count:
            sock.sendall(struct.pack(">I", sent)); sent += 1
    os.close(fd)
    if whole.digest() != want:
        sys.exit("whole-file SHA-1 mismatch")
    print("DONE", flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "seed":
        seed(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    else:
        leech(sys.argv[2], int(sys.argv[3]), sys.argv[4])
