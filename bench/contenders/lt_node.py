"""One libtorrent node (seeder or leecher) driven by the benchmark harness.

Why a separate process: every contender runs as its own OS process so that peak RSS and CPU
seconds are measured the same way for all of them, and a wedged node can be killed on a deadline.

Protocol with the harness (stdout, one line each):
  seed:  "READY <port> <infohash-hex>" once the torrent is hashed and the session listens.
  leech: "DONE" once libtorrent reports the torrent finished (all pieces passed its SHA-1 piece
         checks; libtorrent does no whole-file hash). The process keeps seeding until killed,
         as a BitTorrent client does, unless --exit-when-done is given.
Settings follow the bench brief: TCP only (uTP off), DHT/LSD/UPnP/NAT-PMP off, no trackers,
peers connected directly with connect_peer, allow_multiple_connections_per_ip on.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import libtorrent as lt


def make_session(port: int, upload_rate: int) -> lt.session:
    settings = {
        "listen_interfaces": f"127.0.0.1:{port}",
        "enable_dht": False,
        "enable_lsd": False,
        "enable_upnp": False,
        "enable_natpmp": False,
        "enable_outgoing_utp": False,
        "enable_incoming_utp": False,
        "enable_outgoing_tcp": True,
        "enable_incoming_tcp": True,
        "allow_multiple_connections_per_ip": True,
        "upload_rate_limit": upload_rate,
        "alert_mask": lt.alert.category_t.status_notification | lt.alert.category_t.error_notification,
    }
    ses = lt.session(settings)
    if upload_rate:
        # By default loopback peers land in the "local" peer class, which ignores rate limits.
        # Map every address to the global class so upload_rate_limit really applies.
        flt = lt.ip_filter()
        flt.add_rule("0.0.0.0", "255.255.255.255", 1 << int(lt.session.global_peer_class_id))
        ses.set_peer_class_filter(flt)
    return ses


def build_torrent(path: str, piece_size: int, out: str) -> lt.torrent_info:
    files = lt.list_files(path)
    ct = lt.create_torrent(files, piece_size, lt.create_torrent.v1_only)
    lt.set_piece_hashes(ct, os.path.dirname(os.path.abspath(path)))
    data = lt.bencode(ct.generate())
    with open(out, "wb") as fh:
        fh.write(data)
    return lt.torrent_info(out)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("role", choices=["seed", "leech"])
    ap.add_argument("--file", help="seed: file to share")
    ap.add_argument("--torrent", required=True, help="seed: where to write; leech: what to load")
    ap.add_argument("--out", help="leech: download folder")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--piece-size", type=int, default=65536)
    ap.add_argument("--upload-rate", type=int, default=0)
    ap.add_argument("--peer", action="append", default=[], help="HOST:PORT to connect to")
    ap.add_argument("--exit-when-done", action="store_true")
    ap.add_argument("--deadline", type=float, default=600.0)
    a = ap.parse_args()
    end = time.monotonic() + a.deadline
    ses = make_session(a.port, a.upload_rate)
    params = lt.add_torrent_params()
    if a.role == "seed":
        params.ti = build_torrent(a.file, a.piece_size, a.torrent)
        params.save_path = os.path.dirname(os.path.abspath(a.file))
        params.flags |= lt.torrent_flags.seed_mode
    else:
        params.ti = lt.torrent_info(a.torrent)
        params.save_path = a.out
    params.flags &= ~lt.torrent_flags.auto_managed
    params.flags &= ~lt.torrent_flags.paused
    h = ses.add_torrent(params)
    for peer in a.peer:
        host, port = peer.rsplit(":", 1)
        h.connect_peer((host, int(port)))
    if a.role == "seed":
        print(f"READY {a.port} {params.ti.info_hashes().v1}", flush=True)
    done = False
    while time.monotonic() < end:
        ses.wait_for_alert(200)
        for alert in ses.pop_alerts():
            if isinstance(alert, lt.torrent_finished_alert) and not done and a.role == "leech":
                done = True
                print("DONE", flush=True)
                if a.exit_when_done:
                    return 0
            elif isinstance(alert, lt.torrent_error_alert):
                print(f"ERROR {alert.message()}", flush=True)
                return 2
        if a.role == "leech" and not done and h.status().is_seeding:
            done = True
            print("DONE", flush=True)
            if a.exit_when_done:
                return 0
    return 3 if a.role == "leech" and not done else 0


if __name__ == "__main__":
    sys.exit(main())
