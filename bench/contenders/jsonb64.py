"""The original design, kept as a reference point: newline-delimited JSON over asyncio streams,
piece payloads in base64, one request at a time (no pipelining), SHA-1 per piece + whole file.

seed:  jsonb64.py seed FILE PORT PIECE_SIZE   -> prints "READY <port>"
leech: jsonb64.py leech HOST PORT OUT_FILE    -> prints "DONE" after both hash checks, exits 0
"""
import asyncio, base64, hashlib, json, os, sys

LIMIT = 64 * 1024 * 1024  # a base64 1 MiB piece is a 1.4 MB line


async def seed(path: str, port: int, piece: int) -> None:
    size, whole, hashes = os.path.getsize(path), hashlib.sha1(), []
    with open(path, "rb") as fh:
        while block := fh.read(piece):
            whole.update(block)
            hashes.append(hashlib.sha1(block).hexdigest())
    meta = {"type": "meta", "size": size, "piece_size": piece, "sha1": whole.hexdigest(),
            "pieces": hashes}

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(json.dumps(meta).encode() + b"\n")
        with open(path, "rb") as fh:
            while line := await reader.readline():
                msg = json.loads(line)
                if msg["type"] != "request":
                    break
                fh.seek(msg["index"] * piece)
                data = base64.b64encode(fh.read(piece)).decode("ascii")
                writer.write(json.dumps({"type": "piece", "index": msg["index"], "data": data})
                             .encode() + b"\n")
                await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", port, limit=LIMIT)
    print(f"READY {port}", flush=True)
    await server.serve_forever()


async def leech(host: str, port: int, out: str) -> None:
    reader, writer = await asyncio.open_connection(host, port, limit=LIMIT)
    meta = json.loads(await reader.readline())
    piece, whole = meta["piece_size"], hashlib.sha1()
    with open(out, "wb") as fh:
        for index in range(len(meta["pieces"])):
            writer.write(json.dumps({"type": "request", "index": index}).encode() + b"\n")
            msg = json.loads(await reader.readline())
            data = base64.b64decode(msg["data"])
            if hashlib.sha1(data).hexdigest() != meta["pieces"][index]:
                sys.exit(f"piece {index} failed its hash")
            fh.seek(index * piece)
            fh.write(data)
            whole.update(data)
    if whole.hexdigest() != meta["sha1"]:
        sys.exit("whole-file SHA-1 mismatch")
    writer.close()
    print("DONE", flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "seed":
        asyncio.run(seed(sys.argv[2], int(sys.argv[3]), int(sys.argv[4])))
    else:
        asyncio.run(leech(sys.argv[2], int(sys.argv[3]), sys.argv[4]))
