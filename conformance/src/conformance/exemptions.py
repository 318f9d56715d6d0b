"""MUSTs that cannot be observed over the wire, each with the reason (reviewed list).

A requirement listed here counts as covered in the matrix, marked "exempt". Keep it short:
everything a peer can see on the wire needs a case instead. The coverage test fails if an
exempt requirement gains a case, stops being a MUST, or disappears from the spec.
"""

from __future__ import annotations

_LSD = (
    "local discovery is UDP multicast on the target's LAN, and the suite reaches its target by "
    "a TCP address; spec/vectors/lsd.json, core tests and a network-namespace test cover it"
)

EXEMPT: dict[str, str] = {
    "META-2": "a metainfo breaking META-2 must carry the same geometry and name in the handshake "
    "(META-8), so on the wire HS-9/HS-10 refuse it first (cases handshake/impossible-geometry, "
    "handshake/unsafe-name); the decoder checks themselves are core unit tests",
    "META-5": "the whole-file SHA-1 verdict is reported locally (exit code, UI), nothing on the "
    "wire changes; tested by the node's end-to-end tests",
    "TREE-7": "each file's SHA-1 verdict is reported locally (exit code, UI), nothing on the "
    "wire changes; tested by the CLI's folder tests",
    "TREE-11": "where a downloader writes a tree on its own disk is not visible to peers; the "
    "CLI's folder tests run every hostile path against the real `get` (serve tree-* scenarios "
    "check the refusal on the wire)",
    "META-7": "share creation limits are local: a peer only ever sees valid shares",
    "MSG-23": "what a receiver concludes about a peer from haves it did not get is an inference "
    "inside the receiver with no frame of its own; serve/completes checks the sending side "
    "(haves reach the watcher, which lacks every piece: MSG-2; the entry peer may be left out: "
    "MSG-22)",
    "META-9": "file allocation on the downloader's disk is invisible to its peers",
    "NAME-2": "share creation is local: a node refusing to create an unsafe share sends nothing",
    "LINK-1": "link parsing is user input to one node, never sent on the wire (core link tests)",
    "LINK-2": "link parsing is user input to one node, never sent on the wire (core link tests)",
    "LINK-3": "link parsing is user input to one node, never sent on the wire (core link tests)",
    "LINK-4": "link parsing/formatting is local, never sent on the wire (core link tests)",
    "LINK-5": "link parsing is user input to one node, never sent on the wire (core link tests)",
    "ERR-9": "parole scores and bans are internal state; a missing penalty has no wire symptom "
    "a test could wait for in bounded time",
    "PEX-13": "the suite reaches its target over loopback, where loopback entries are allowed; "
    "core peerbook tests and the multi-host network tests cover it",
    "PEX-7": "on the wire, ignoring such entries is not dialing them: an entry with the "
    "receiver's own peer ID is never dialed by DUP-1 (its ID is not above its own), and port 0 "
    "cannot be dialed at all; what the receiver keeps is bookkeeping (core peer book tests)",
    "PEX-8": "the bound on remembered addresses is internal bookkeeping with no wire symptom",
    "SEC-1": "where a downloader writes on its own disk is not visible to peers (node tests)",
    "STATE-7": "a permission for the responder and a rule for the requester's own expectations; "
    "neither sending nor omitting the owed replies is a wire fault",
    "LSD-1": _LSD,
    "LSD-2": _LSD,
    "LSD-4": _LSD,
    "LSD-5": _LSD,
    "STORE-1": "free space and clean-up are on the downloader's own disk (CLI storage tests)",
    "STORE-2": "how a node opens its own files is not visible to peers (CLI storage tests)",
    "STORE-4": "resume records live on the node's own disk (CLI kill -9 tests)",
    "STORE-5": "two local processes of one user; nothing on the wire (CLI storage tests)",
    "STORE-6": "needs the target's own file edited under it, which the suite cannot do over "
    "the wire (CLI storage tests edit a real seeder's file)",
    "SEC-6": "the suite connects from one address, which a target is configured to admit "
    "generously (spec section 16); the per-host refusal is a core unit test (test_admission)",
    "SEC-9": "dial pacing shows only over seconds of PEX-driven dialling by a downloader; core "
    "unit tests (test_admission) and the node's hostile-peer suite measure it",
    "SEC-10": "redial backoff after violations shows only over minutes; core peer book tests",
    "SEC-11": "bans follow parole scores (internal, see ERR-9); core and node tests",
}
