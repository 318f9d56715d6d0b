"""Protocol constants, in one place so code, tests and docs quote the same numbers.

Values come from CONTRACT.md / spec/protocol.md; changing one changes the protocol.
"""

from __future__ import annotations

from typing import Final

# --- identity -------------------------------------------------------------------------------
PROTOCOL_MAGIC: Final = b"P2PS"
PROTOCOL_VERSION: Final = 1
METAINFO_MAGIC: Final = b"P2PM"
METAINFO_VERSION: Final = 1

PEER_ID_LENGTH: Final = 20
SHARE_ID_LENGTH: Final = 32  # SHA-256 of the canonical metainfo
PIECE_HASH_LENGTH: Final = 32  # SHA-256 of one piece
FILE_SHA1_LENGTH: Final = 20  # SHA-1 of the whole file

# --- framing --------------------------------------------------------------------------------
LENGTH_PREFIX_SIZE: Final = 4
MAX_FRAME_LENGTH: Final = 1_048_576  # max value of a frame's length field (id + payload)
MAX_BLOCK_LENGTH: Final = 262_144  # max length of a request / data of a piece message
MAX_SPAN_LENGTH: Final = 524_288  # max data bytes of one span (extension SPAN, spec 5.2)
PIECE_HEADER_SIZE: Final = 13  # length prefix + id + index + offset

# --- share geometry -------------------------------------------------------------------------
MIN_PIECE_SIZE: Final = 16_384
DEFAULT_PIECE_SIZE: Final = 65_536
MAX_PIECE_SIZE: Final = 67_108_864
MAX_PIECES: Final = 131_072
MAX_FILE_SIZE: Final = MAX_PIECES * MAX_PIECE_SIZE  # 8 TiB
MAX_NAME_LENGTH: Final = 255  # bytes of UTF-8

# --- metainfo -------------------------------------------------------------------------------
METAINFO_CHUNK_SIZE: Final = 65_536
METAINFO_FIXED_SIZE: Final = 4 + 1 + 8 + 4 + FILE_SHA1_LENGTH + 2  # before name and hashes
MIN_METAINFO_SIZE: Final = METAINFO_FIXED_SIZE + 1  # a name has at least one byte
MAX_METAINFO_SIZE: Final = METAINFO_FIXED_SIZE + MAX_NAME_LENGTH + PIECE_HASH_LENGTH * MAX_PIECES
MAX_METAINFO_CHUNKS: Final = -(
    -MAX_METAINFO_SIZE // METAINFO_CHUNK_SIZE
)  # 65: no chunk index above

# --- multi-file shares (spec 8.7, TREE) ---------------------------------------------------------
TREE_METAINFO_MAGIC: Final = b"P2PT"
TREE_FIXED_SIZE: Final = 4 + 1 + 8 + 4 + 4 + 2  # before the root name, entries and hashes
TREE_ENTRY_FIXED_SIZE: Final = 1 + 8 + FILE_SHA1_LENGTH + 2  # before an entry's path
MAX_TREE_ENTRIES: Final = 65_536  # files and empty directories in one tree
MAX_TREE_DEPTH: Final = 32  # components in one path
MAX_TREE_PATH_LENGTH: Final = 1024  # bytes of UTF-8 in one path
MAX_TREE_NAME_LENGTH: Final = MAX_NAME_LENGTH - 1  # the summary's name adds a '/'

# --- peer exchange --------------------------------------------------------------------------
MAX_PEX_ENTRIES: Final = 50
PEX_MIN_INTERVAL: Final = 2.0  # seconds between two peers messages on one connection
MAX_KNOWN_PEERS_PER_SOURCE: Final = 200
MAX_KNOWN_PEERS: Final = 1000

# --- limits and timers (seconds) --------------------------------------------------------------
MAX_PEER_REQUESTS: Final = 512
MAX_REASON_LENGTH: Final = 1024  # bytes of UTF-8 in an error message
HANDSHAKE_TIMEOUT: Final = 10.0
REQUEST_TIMEOUT: Final = 30.0
KEEPALIVE_INTERVAL: Final = 30.0
IDLE_TIMEOUT: Final = 120.0
CONNECT_TIMEOUT: Final = 10.0
RECHOKE_INTERVAL: Final = 10.0
OPTIMISTIC_INTERVAL: Final = 30.0
UPLOAD_SLOTS: Final = 8
MAX_CONNECTIONS: Final = 50
BAN_THRESHOLD: Final = -7
# Admission and dialing limits against hostile hosts (spec SEC-6 .. SEC-10)
MAX_CONNECTIONS_PER_HOST: Final = 8  # open connections with one IP address, either direction
MAX_HANDSHAKING: Final = 32  # inbound connections that have not completed their handshake
EVICT_IDLE: Final = 10.0  # seconds without piece data before a peer may be replaced
DIAL_RATE: Final = 5.0  # new outgoing connection attempts per second, all targets together
DIAL_BURST: Final = 10  # attempts that may start at once after a quiet spell
HOST_DIAL_RATE: Final = 2.0  # attempts per second to the addresses of one IP address
HOST_DIAL_BURST: Final = 4
VIOLATION_BACKOFF_MAX: Final = 3600.0  # cap of the redial delay after protocol violations
