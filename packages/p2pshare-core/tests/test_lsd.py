"""Local peer discovery (LSD): the announce codec and the bounded receiving side."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from p2pshare_core.lsd import (
    LSD_MAGIC,
    MAX_LSD_PACKET,
    MAX_LSD_SHARES,
    Announce,
    LocalDiscovery,
    decode_announce,
    encode_announce,
)

SHARE = bytes(range(32))
OTHER = bytes(32)
announces = st.builds(
    Announce,
    cookie=st.binary(min_size=8, max_size=8),
    port=st.integers(1, 65535),
    share_ids=st.lists(st.binary(min_size=32, max_size=32), min_size=1, max_size=16).map(tuple),
)


@given(announces)
def test_round_trip(announce: Announce) -> None:
    data = encode_announce(announce)
    assert len(data) <= MAX_LSD_PACKET
    assert decode_announce(data) == announce


@given(st.binary(max_size=MAX_LSD_PACKET + 64))
def test_anything_decodes_to_an_announce_or_none(data: bytes) -> None:
    result = decode_announce(data)
    assert result is None or encode_announce(result) == data


def test_malformed_announces_are_none() -> None:
    good = encode_announce(Announce(b"c" * 8, 7000, (SHARE,)))
    assert decode_announce(good) is not None
    assert decode_announce(b"XXXX" + good[4:]) is None  # magic
    assert decode_announce(good[:4] + b"\x02" + good[5:]) is None  # version
    assert decode_announce(good[:-1]) is None  # truncated
    assert decode_announce(good + b"\x00") is None  # trailing byte
    assert decode_announce(good[:14] + b"\x00\x00" + good[16:]) is None  # port 0
    assert decode_announce(good[:16] + b"\x00" + good[17:]) is None  # count 0
    assert good.startswith(LSD_MAGIC)
    with pytest.raises(ValueError):
        Announce(b"c" * 8, 7000, (SHARE,) * (MAX_LSD_SHARES + 1))
    for bad in ((b"c", 7000, (SHARE,)), (b"c" * 8, 0, (SHARE,)), (b"c" * 8, 1, (b"x",))):
        with pytest.raises(ValueError):
            Announce(*bad)


def test_announces_are_paced_and_new_shares_go_out_at_once() -> None:
    lsd = LocalDiscovery(b"m" * 8, 7000, now=0.0, interval=60.0)
    assert lsd.get_timer() is None and lsd.announce_due(0.0) is None  # nothing to announce
    lsd.set_shares([SHARE], [SHARE], now=5.0)
    first = lsd.announce_due(5.0)
    assert first is not None and decode_announce(first) == Announce(b"m" * 8, 7000, (SHARE,))
    assert lsd.announce_due(30.0) is None and lsd.get_timer() == 65.0
    lsd.set_shares([SHARE, OTHER], [SHARE], now=31.0)
    assert lsd.announce_due(31.0) is not None  # a new share: announced at once


def test_receiving_is_bounded_and_never_trusts_itself() -> None:
    lsd = LocalDiscovery(b"m" * 8, 7000, now=0.0, per_sender=1.0, max_senders=4)
    lsd.set_shares([SHARE], [SHARE], now=0.0)
    theirs = encode_announce(Announce(b"t" * 8, 7001, (OTHER, SHARE)))
    assert lsd.datagram_received(theirs, "192.0.2.9", 0.0) == ("192.0.2.9", 7001)
    assert lsd.datagram_received(theirs, "192.0.2.9", 0.5) is None  # flooding: not even parsed
    assert lsd.datagram_received(theirs, "192.0.2.9", 2.0) is None  # already reported
    assert lsd.datagram_received(theirs, "192.0.2.9", 70.0) == ("192.0.2.9", 7001)
    own = encode_announce(Announce(b"m" * 8, 7000, (SHARE,)))
    assert lsd.datagram_received(own, "192.0.2.1", 0.0) is None  # our own, looped back
    other_share = encode_announce(Announce(b"t" * 8, 7001, (OTHER,)))
    assert lsd.datagram_received(other_share, "192.0.2.10", 0.0) is None
    assert lsd.datagram_received(b"junk", "192.0.2.11", 0.0) is None
    for n in range(100):  # a spoofed flood from many addresses: the tables stay bounded
        lsd.datagram_received(theirs, f"198.51.100.{n}", 3.0)
    assert len(lsd._heard) <= 4 and len(lsd._reported) <= 4


def test_a_seeking_newcomer_is_answered_within_a_second_and_never_dialed() -> None:
    seeder = LocalDiscovery(b"s" * 8, 7000, now=0.0)
    seeder.set_shares([SHARE], [], now=0.0)
    assert seeder.announce_due(0.0) is not None and seeder.get_timer() == 60.0
    newcomer = LocalDiscovery(b"n" * 8, 7001, now=10.0)
    newcomer.set_shares([], [SHARE], now=10.0)
    asking = newcomer.announce_due(10.0)
    assert asking is not None
    decoded = decode_announce(asking)
    assert decoded is not None and decoded.seeking and decoded.share_ids == (SHARE,)
    assert seeder.datagram_received(asking, "192.0.2.7", 10.0) is None  # not dialed
    assert seeder.get_timer() == 10.0  # answered now, not at 60 s
    answer = seeder.announce_due(10.0)
    assert answer is not None
    assert newcomer.datagram_received(answer, "192.0.2.1", 10.1) == ("192.0.2.1", 7000)
    other = LocalDiscovery(b"o" * 8, 7002, now=0.0)
    other.set_shares([OTHER], [], now=0.0)
    other.announce_due(0.0)
    assert other.datagram_received(asking, "192.0.2.7", 10.0) is None
    assert other.get_timer() == 60.0  # not its share: no answer
