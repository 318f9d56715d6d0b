"""safetext: peer text is printable and bounded before a terminal sees it."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from p2pshare_cli.safetext import MAX_SHOWN, printable, sanitized
from p2pshare_node import events as ev


@given(st.text(max_size=3000), st.integers(min_value=2, max_value=600))
def test_printable_output_is_printable_and_bounded(text: str, limit: int) -> None:
    shown = printable(text, limit)
    assert shown.isprintable()
    assert len(shown) <= limit


def test_printable_keeps_ordinary_text_and_escapes_the_rest() -> None:
    assert printable("movie (2024) – été.mkv") == "movie (2024) – été.mkv"
    assert printable("a\x1b[2Jb\rc\u202ed\x85") == "a\\x1b[2Jb\\x0dc\\u202ed\\x85"
    assert printable("x" * 5000).endswith("…") and len(printable("x" * 5000)) == MAX_SHOWN


def test_sanitized_event_keeps_its_time_and_numbers() -> None:
    event = ev.PeerDown(conn=3, peer_id="ab", reason="bye\x1b]0;t\x07")
    object.__setattr__(event, "time", 1.5)
    safe = sanitized(event)
    assert safe.reason == "bye\\x1b]0;t\\x07" and safe.conn == 3 and safe.time == 1.5
    progress = ev.Progress(
        done=1, total=2, pieces_done=1, pieces=2, down_rate=0.0, down_avg=0.0, up_rate=0.0,
        uploaded=0, peers=("a\nb",),
    )  # fmt: skip
    assert sanitized(progress).peers == ("a\\x0ab",)
    plain = ev.PeerDown(conn=1, peer_id="ab", reason="fine")
    assert sanitized(plain) is plain
