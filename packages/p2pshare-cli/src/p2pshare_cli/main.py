"""The `p2pshare` command: share a file, get a file, or watch a demo swarm on this machine."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import signal
import sys
from pathlib import Path

import click
from p2pshare_core.constants import MAX_CONNECTIONS_PER_HOST
from p2pshare_core.link import ShareLink, parse_link
from p2pshare_core.metainfo import is_valid_piece_size
from p2pshare_core.tree import TreeMetainfo
from p2pshare_node import events as ev
from p2pshare_node.config import NodeConfig, lan_by_default
from p2pshare_node.errors import ErrorKind, NodeError
from p2pshare_node.faults import Fault
from p2pshare_node.node import Node

from p2pshare_cli.allocator import tune_allocator
from p2pshare_cli.exit_codes import EPILOG, EXIT_FOR_KIND, ExitCode
from p2pshare_cli.inspecting import info, verify
from p2pshare_cli.reporters import MAX_MESSAGE, Reporter, make_reporter
from p2pshare_cli.safetext import printable
from p2pshare_cli.seeding import DEFAULT_IDLE, DEFAULT_RATIO, SeedPolicy
from p2pshare_cli.simulating import simulate_command
from p2pshare_cli.units import format_bytes, format_iec, parse_size

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def _size(ctx: click.Context, param: click.Parameter, value: str | None) -> int | None:
    """Option callback: '64MiB' -> bytes, with click's usage error (exit 2) when malformed."""
    if value is None:
        return None
    try:
        return parse_size(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), ctx, param) from None


def _addresses(
    ctx: click.Context, param: click.Parameter, values: tuple[str, ...]
) -> tuple[tuple[str, int], ...]:
    """Option callback: HOST:PORT (or a share link, whose address is used) for each value."""
    result: list[tuple[str, int]] = []
    for value in values:
        try:
            link = parse_link(value)
        except ValueError as exc:
            raise click.BadParameter(str(exc), ctx, param) from None
        result.append((link.host, link.port))
    return tuple(result)


def _advertise(
    ctx: click.Context, param: click.Parameter, value: str | None
) -> tuple[str, int | None] | None:
    """Option callback: HOST or HOST:PORT (IPv6 in brackets) to put in links."""
    if value is None:
        return None
    try:
        link = parse_link(value)
        return link.host, link.port
    except ValueError:
        pass
    host = value[1:-1] if value.startswith("[") and value.endswith("]") else value
    try:
        return ShareLink(host, 1).host, None
    except ValueError as exc:
        raise click.BadParameter(f"{value!r}: {exc}", ctx, param) from None


def _share_id_only(text: str) -> bytes | None:
    """The share ID of `SHAREID` (64 hex digits) or `p2pshare:///SHAREID` [LINK-8], else None."""
    rest = text[len("p2pshare:///") :] if text.lower().startswith("p2pshare:///") else text
    if len(rest) == 64 and all(c in "0123456789abcdefABCDEF" for c in rest):
        return bytes.fromhex(rest)
    return None


def _did_you_mean(text: str) -> str:
    """' (did you mean p2pshare://HOST:PORT/ID?)' for a mistyped scheme, else ''."""
    lowered = text.lower()
    if not lowered.startswith("p2pshare") or lowered.startswith("p2pshare://"):
        return ""
    guess = "p2pshare://" + text[len("p2pshare") :].lstrip(":/")
    try:
        parse_link(guess)
    except ValueError:
        return ""
    return f" (did you mean {guess}?)"


SEED_CHECK_INTERVAL = 1.0  # seconds between two looks at the seeding policy

FAULTS = click.Choice([f.value for f in Fault])


@click.group(context_settings=CONTEXT, epilog=EPILOG)
@click.version_option(package_name="p2pshare-cli", prog_name="p2pshare")
def cli() -> None:
    """Share a file peer to peer: no server, no tracker, every piece verified.

    \b
    p2pshare demo                      watch a swarm of local peers share a file
    p2pshare share FILE|FOLDER         seed it and print its link
    p2pshare get LINK                  download (and then seed) what LINK names
    """


def _common_options(func: click.decorators.FC) -> click.decorators.FC:
    func = click.option(
        "--fault",
        "faults",
        type=FAULTS,
        multiple=True,
        hidden=True,
        help="Test only: behave as a broken peer.",
    )(func)
    func = click.option(
        "--max-upload-rate",
        callback=_size,
        default=None,
        metavar="RATE",
        help="Limit uploads to this many bytes per second (e.g. 2MiB; 0 = no limit).",
    )(func)
    func = click.option(
        "--json", "json_output", is_flag=True, help="Print one JSON event per line on stdout."
    )(func)
    func = click.option(
        "--advertise",
        callback=_advertise,
        default=None,
        metavar="HOST[:PORT]",
        help="Address to print in links, when the one found is not the one others reach "
        "(port forwarding, NAT, several networks).",
    )(func)
    func = click.option(
        "--max-per-host",
        "max_per_host",
        type=click.IntRange(1, 10_000),
        default=MAX_CONNECTIONS_PER_HOST,
        show_default=True,
        metavar="N",
        help="Accept at most N connections from one IP address (raise it to run many "
        "peers on one machine).",
    )(func)
    func = click.option(
        "--no-extensions",
        "no_extensions",
        is_flag=True,
        help="Speak plain protocol version 1: offer no extension (such as multi-piece "
        "requests) to peers. For testing other implementations; slower.",
    )(func)
    func = click.option(
        "--no-lan",
        "no_lan",
        is_flag=True,
        help="No local peer discovery: do not announce on the LAN, nor look for peers there.",
    )(func)
    func = click.option(
        "--host",
        default=None,
        help="Listen on this address only (default: every interface, IPv4 and IPv6).",
    )(func)
    func = click.option(
        "--port",
        type=click.IntRange(0, 65535),
        default=0,
        show_default=True,
        help="TCP port to listen on (0 = any free port).",
    )(func)
    return func


@cli.command(context_settings=CONTEXT, epilog=EPILOG)
@click.argument("path", type=click.Path(path_type=Path))
@click.option(
    "--piece-size",
    callback=_size,
    default=None,
    metavar="SIZE",
    help="Piece size, a power of two from 16KiB to 64MiB (default 64KiB, grown for huge files).",
)
@click.option(
    "--name",
    "share_name",
    default=None,
    metavar="NAME",
    help="Share the file under this name (e.g. when its own name is not portable, such as "
    "'10:30.log').",
)
@click.option(
    "--super-seed",
    "super_seed",
    is_flag=True,
    help="Initial seeding: offer each peer only pieces nobody has yet, so that the first copy "
    "you upload is made of different pieces (BEP 16). For a seeder that will not stay long "
    "or has little upload; slower for a lone downloader.",
)
@_common_options
def share(
    path: Path,
    piece_size: int | None,
    share_name: str | None,
    super_seed: bool,
    port: int,
    host: str | None,
    advertise: tuple[str, int | None] | None,
    no_lan: bool,
    no_extensions: bool,
    json_output: bool,
    max_per_host: int,
    max_upload_rate: int | None,
    faults: tuple[str, ...],
) -> None:
    """Seed PATH (a file, or a folder and everything in it): print its link, serve until Ctrl-C.

    A folder is shared as one share: its regular files and empty folders, never following a
    symbolic link inside it (those are skipped, with a warning). `get` recreates it.
    """
    if piece_size is not None and not is_valid_piece_size(piece_size):
        raise click.BadParameter(
            f"{piece_size} is not a power of two between 16KiB and 64MiB", param_hint="--piece-size"
        )
    config = NodeConfig(
        share_path=path,
        share_name=share_name,
        listen_host=host,
        listen_port=port,
        advertise_host=advertise[0] if advertise else None,
        advertise_port=advertise[1] if advertise else None,
        lan=not no_lan and lan_by_default(),
        extensions=not no_extensions,
        piece_size=piece_size,
        max_upload_rate=max_upload_rate or None,
        max_connections_per_host=max_per_host,
        super_seeding=super_seed,
        faults=frozenset(Fault(f) for f in faults),
    )
    sys.exit(_run(config, json_output, None))


@cli.command(context_settings=CONTEXT, epilog=EPILOG)
@click.argument("link")
@click.option(
    "-o",
    "--output",
    "output_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("."),
    show_default=True,
    help="Directory to download into.",
)
@click.option(
    "--peer",
    "peers",
    callback=_addresses,
    metavar="HOST:PORT",
    multiple=True,
    help="Another peer to contact first (repeatable).",
)
@click.option(
    "--exit-when-done",
    is_flag=True,
    help="Exit 0 once the file is complete and verified, without seeding.",
)
@click.option(
    "--seed-ratio",
    type=click.FloatRange(min=0),
    default=DEFAULT_RATIO,
    show_default=True,
    metavar="RATIO",
    help="After the download, seed until this many times the file's size is uploaded "
    "(0 = no ratio limit).",
)
@click.option(
    "--seed-time",
    type=click.FloatRange(min=0),
    default=None,
    metavar="MINUTES",
    help="After the download, seed at most this many minutes.",
)
@click.option(
    "--seed",
    "seed_forever",
    is_flag=True,
    help="After the download, seed until Ctrl-C (no ratio, time or idle limit).",
)
@click.option(
    "--force",
    is_flag=True,
    help="Overwrite an existing file of the same name (a folder share: move each of its files "
    "into the existing folder, replacing files of the same path, keeping everything else).",
)
@click.option(
    "--max-download-rate",
    callback=_size,
    default=None,
    metavar="RATE",
    help="Limit downloads to this many bytes per second (e.g. 2MiB; 0 = no limit).",
)
@click.option(
    "--give-up",
    "give_up",
    type=click.FloatRange(min=0),
    default=300.0,
    show_default=True,
    metavar="SECONDS",
    help="Stop an unfinished download after this long without progress: no peer would serve "
    "it (exit 3; refused or busy peers are retried until then), or no piece verified while "
    "pieces fail verification (exit 7). 0 = never.",
)
@_common_options
def get(
    link: str,
    output_dir: Path,
    peers: tuple[tuple[str, int], ...],
    exit_when_done: bool,
    seed_ratio: float,
    seed_time: float | None,
    seed_forever: bool,
    force: bool,
    max_download_rate: int | None,
    give_up: float,
    port: int,
    host: str | None,
    advertise: tuple[str, int | None] | None,
    no_lan: bool,
    no_extensions: bool,
    json_output: bool,
    max_per_host: int,
    max_upload_rate: int | None,
    faults: tuple[str, ...],
) -> None:
    """Download the file LINK names into a directory, then seed it for a while.

    LINK is a share link (p2pshare://HOST:PORT/SHAREID) or just HOST:PORT of any peer,
    which is then asked what it shares. A download interrupted in any way resumes when the
    same command is run again. After the download, `get` keeps seeding until it has uploaded
    the file's size (--seed-ratio 1), or until no peer has wanted anything for 5 minutes,
    whichever comes first; --seed-time adds a time limit, --seed seeds until Ctrl-C and
    --exit-when-done does not seed.
    """
    if seed_forever and (exit_when_done or seed_time is not None):
        raise click.UsageError("--seed (until Ctrl-C) contradicts --exit-when-done / --seed-time")
    policy: SeedPolicy | None
    if seed_forever:
        policy = None
    elif exit_when_done:
        policy = SeedPolicy(ratio=None, seconds=0, idle=None)
    else:
        seconds = None if seed_time is None else seed_time * 60
        policy = SeedPolicy(ratio=seed_ratio or None, seconds=seconds, idle=DEFAULT_IDLE)
    share_only = _share_id_only(link)
    if share_only is not None:  # a share ID alone: peers from the LAN (and --peer)
        if no_lan and not peers:
            raise click.UsageError("a share ID alone needs LAN discovery (drop --no-lan) or --peer")
        parsed = ShareLink("localhost", 1, share_only)
        bootstrap = tuple(peers)
    else:
        try:
            parsed = parse_link(link)
        except ValueError as exc:
            raise click.BadParameter(str(exc) + _did_you_mean(link), param_hint="LINK") from None
        bootstrap = (
            (parsed.host, parsed.port),
            *(p for p in peers if p != (parsed.host, parsed.port)),
        )
    config = NodeConfig(
        output_dir=output_dir,
        share_id=parsed.share_id,
        bootstrap=bootstrap,
        listen_host=host,
        listen_port=port,
        advertise_host=advertise[0] if advertise else None,
        advertise_port=advertise[1] if advertise else None,
        lan=not no_lan and lan_by_default(),
        extensions=not no_extensions,
        force=force,
        max_download_rate=max_download_rate or None,
        give_up_after=give_up or None,
        max_upload_rate=max_upload_rate or None,
        max_connections_per_host=max_per_host,
        faults=frozenset(Fault(f) for f in faults),
    )
    tune_allocator()  # (a download's memory churn; `share` hashes in a few fixed buffers)
    sys.exit(_run(config, json_output, policy))


@cli.command(context_settings=CONTEXT, epilog=EPILOG)
@click.option(
    "--peers",
    "leechers",
    type=click.IntRange(1, 32),
    default=4,
    show_default=True,
    help="Number of downloading peers.",
)
@click.option(
    "--size",
    callback=_size,
    default="64MiB",
    show_default=True,
    metavar="SIZE",
    help="Size of the random file.",
)
@click.option(
    "--piece-size", callback=_size, default=None, metavar="SIZE", help="Piece size of the file."
)
@click.option(
    "--seed-rate",
    callback=_size,
    metavar="RATE",
    default="16MiB",
    show_default=True,
    help="Upload cap of the seeder, so the peers visibly serve each other (0 = no cap).",
)
@click.option(
    "--keep",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    hidden=True,
    help="Keep the demo files in this directory.",
)
def demo(
    leechers: int, size: int, piece_size: int | None, seed_rate: int | None, keep: Path | None
) -> None:
    """Start a seeder and N downloaders on this machine and watch the swarm fill in.

    Every peer is a separate `p2pshare` process on 127.0.0.1; each downloader is told about
    only one other peer and finds the rest by peer exchange. At the end every copy is verified
    and a summary shows who served whom.
    """
    from p2pshare_cli.demo import run_demo

    sys.exit(
        run_demo(
            leechers=leechers, size=size, piece_size=piece_size, seed_rate=seed_rate, keep=keep
        )
    )


def _run(config: NodeConfig, json_output: bool, policy: SeedPolicy | None) -> int:
    """Run one node until done/Ctrl-C and turn the outcome into an exit code."""
    reporter = make_reporter(json_output)
    holder: list[Node] = []
    try:
        return asyncio.run(_serve(config, reporter, holder, policy))
    except (KeyboardInterrupt, Terminated) as stop:
        node = holder[0] if holder else None
        if config.seeding or (node is not None and node.complete):
            reporter.info("Stopped.")
            return ExitCode.OK
        how = "Terminated" if isinstance(stop, Terminated) else "Interrupted"
        reporter.info(f"{how}: progress is saved; run the same command again to resume.")
        return ExitCode.TERMINATED if isinstance(stop, Terminated) else ExitCode.INTERRUPTED
    finally:
        reporter.close()


class Terminated(Exception):
    """SIGTERM (a service manager, `kill`): stop like Ctrl-C, peers told, state saved."""


def _on_sigterm(task: asyncio.Task[int], flag: list[bool]) -> None:
    flag.append(True)
    task.cancel()


async def _serve(
    config: NodeConfig, reporter: Reporter, holder: list[Node], policy: SeedPolicy | None
) -> int:
    """Run the node; a download then seeds as `policy` says (None: until Ctrl-C)."""
    node = Node(config)
    holder.append(node)
    if config.seeding:  # the link comes first, before any progress line [#16: output order]

        def announce(event: ev.NodeEvent) -> None:
            if isinstance(event, ev.Started):
                _announce(node, reporter)

        node.add_listener(announce)
    node.add_listener(reporter.handle)
    terminated: list[bool] = []
    task = asyncio.current_task()
    assert task is not None
    with contextlib.suppress(NotImplementedError, AttributeError):  # (no signals on Windows)
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, _on_sigterm, task, terminated)
    try:
        await node.start()
        if policy is not None and not config.seeding:
            await node.wait_complete()
            if policy.seeds:
                await _seed_until(node, reporter, policy)
            return ExitCode.OK
        await node.wait_closed()
        return ExitCode.OK
    except NodeError as exc:
        if exc.kind is ErrorKind.ALREADY_COMPLETE:
            reporter.info(f"Already complete: {printable(exc.message, MAX_MESSAGE)}")
            return ExitCode.OK
        reporter.fatal(exc)
        reporter.close()
        click.echo(f"p2pshare: error: {printable(exc.message, MAX_MESSAGE)}", err=True)
        return EXIT_FOR_KIND.get(exc.kind, ExitCode.INTERNAL)
    except asyncio.CancelledError:
        if terminated:
            raise Terminated from None
        raise
    finally:
        await node.close()  # [ERR-8] SHUTDOWN to every peer, resume state saved


async def _seed_until(node: Node, reporter: Reporter, policy: SeedPolicy) -> None:
    """Seed after the download until the policy says enough (or the node fails: raises)."""
    loop = asyncio.get_running_loop()
    completed_at = last_upload_at = loop.time()
    uploaded = 0

    def watch(event: ev.NodeEvent) -> None:
        nonlocal last_upload_at, uploaded
        if isinstance(event, ev.Progress):
            if event.uploaded > uploaded:
                last_upload_at = loop.time()
            uploaded = event.uploaded

    node.add_listener(watch)
    meta = node.metainfo
    size = meta.file_size if meta is not None else 0
    peers = node.peer_count
    reporter.info(
        f"Seeding to {peers} peer{'' if peers == 1 else 's'} {policy.describe()} - Ctrl-C to stop"
    )
    closed = asyncio.ensure_future(node.wait_closed())
    try:
        while True:
            done, _ = await asyncio.wait({closed}, timeout=SEED_CHECK_INTERVAL)
            if done:
                closed.result()  # a failure while seeding: NodeError for the caller
                return
            reason = policy.reason_to_stop(
                now=loop.time(),
                completed_at=completed_at,
                last_upload_at=last_upload_at,
                uploaded=uploaded,
                size=size,
            )
            if reason is not None:
                reporter.info(f"Stopped seeding: {reason}.")
                return
    finally:
        closed.cancel()


def _announce(node: Node, reporter: Reporter) -> None:
    meta = node.metainfo
    link = node.share_link
    if meta is None or link is None:
        return
    note = node.advertised.note
    files = ""
    if isinstance(meta, TreeMetainfo):  # the share ID is the one digest of a folder [TREE-13]
        files = f"{len(meta.entries)} files and empty folders, "
    reporter.info(
        f"Sharing {meta.name}{'/' if files else ''} ({format_bytes(meta.file_size)}, {files}"
        f"{meta.piece_count} pieces of {format_iec(meta.piece_size)})\n"
        + (f"Folder digest (share ID): {meta.share_id.hex()}\n" if files else "")
        + f"Link: {link}\n"
        + (f"Note: {note}\n" if note else "")
        + f"To download it elsewhere, run:\n"
        f"  p2pshare get {shlex.quote(link)}\n"
        f"Serving until Ctrl-C."
    )


cli.add_command(info)
cli.add_command(verify)
cli.add_command(simulate_command)


def main() -> None:
    """Console entry point: no tracebacks for anything a user can cause."""
    try:
        cli.main(prog_name="p2pshare", standalone_mode=True)
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        sys.exit(ExitCode.INTERRUPTED)
    except Exception as exc:  # a bug: one line for users, the traceback on request
        if os.environ.get("P2PSHARE_DEBUG"):
            raise
        click.echo(
            f"p2pshare: internal error: {type(exc).__name__}: {exc} "
            "(set P2PSHARE_DEBUG=1 to see the traceback)",
            err=True,
        )
        sys.exit(ExitCode.INTERNAL)
