"""`telecare simulate ...`: scheme (live demo), history (backfill), load (benchmarks), replay (real homes)."""

from __future__ import annotations

import argparse
import asyncio
import itertools
import logging
import math
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

from simulators.clock import Pacer, TimeMode
from simulators.load import load_homes, load_messages, load_site
from simulators.mapping import load_mapping
from simulators.publisher import Publisher, PublishStats, publish_stream
from simulators.replay import plan_replay, replay_messages, replay_site
from simulators.scenario import ScenarioConfig, scenario_messages, scenario_site
from simulators.sitefile import write_site_file
from simulators.stimuli import WireMessage
from simulators.truth import TruthWriter, encode
from simulators.z2m import LastSeen, Z2mOptions
from telecare.cli import existing_file, iso_date, print_json, progress_bar
from telecare.settings import Settings
from telecare.site import SiteFile, provision_site

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add the `simulate` subcommands."""
    simulate = subparsers.add_parser("simulate", help="simulated homes, load and replays of real homes")
    sub = simulate.add_subparsers(dest="simulate_command", required=True)

    scheme = sub.add_parser("scheme", help="a supported-living scheme, live (real time or sped up)")
    scheme.add_argument("--flats", type=int, default=12, help="flats in the scheme, one resident each (default 12)")
    scheme.add_argument("--hours", type=float, default=24.0, help="how much simulated time to run")
    scheme.add_argument(
        "--demo-calls-per-hour", type=float, default=0.0, metavar="N",
        help="extra pendant presses per hour across the scheme, the first 20 s after start (default 0: off)",
    )
    _time_flags(scheme)
    _common(scheme)
    scheme.set_defaults(handler=_scheme)

    history = sub.add_parser("history", help="months of history as fast as possible, with truth")
    history.add_argument("--residents", type=int, default=50, help="residents, one flat each (default 50)")
    history.add_argument("--days", type=int, default=90, help="days of history ending yesterday (default 90)")
    history.add_argument("--publish", action="store_true", help="publish to the broker (default: files only)")
    history.add_argument("--write-stream", action="store_true", help="also write every message to stream.tsv")
    _common(history)
    history.set_defaults(handler=_history)

    load = sub.add_parser("load", help="N homes at a target message rate (benchmarks)")
    load.add_argument("--homes", type=int, default=100, help="homes publishing (default 100)")
    load.add_argument("--rate", type=float, default=1000.0, help="messages per second in all (default 1000)")
    load.add_argument("--seconds", type=float, default=10.0, help="how long to publish (default 10)")
    load.add_argument("--max-outstanding", type=int, default=100, help=_OUTSTANDING_HELP)
    load.add_argument("--seed", type=int, default=1, help="seed of the random stream (default 1)")
    load.add_argument("--prefix", default="load", help="ids are <prefix>-h0001... (default load)")
    load.add_argument("--out", type=Path, default=None, help=_OUT_HELP)
    load.add_argument("--provision", action="store_true", help=_PROVISION_HELP)
    load.set_defaults(handler=_load)

    replay = sub.add_parser("replay", help="replay a recorded home through MQTT, with truth from its labels")
    replay.add_argument("--format", choices=("ordonez", "casas"), required=True,
                        help="ordonez (UCI ADL binary sensors) or casas (CASAS event files)")
    replay.add_argument("--sensors", type=existing_file, required=True, metavar="FILE",
                        help="the recording's sensor file, e.g. simulators/recordings/ordonez_a/OrdonezA_Sensors.txt")
    replay.add_argument("--labels", type=existing_file, metavar="FILE",
                        help="the recording's activity labels (the ground truth), if it has them")
    replay.add_argument("--mapping", type=existing_file, required=True, metavar="FILE",
                        help="which sensor becomes which device, e.g. simulators/mappings/ordonez_a.yaml")
    replay.add_argument(
        "--shift-days",
        type=int,
        help="move the recording by this many days (default: whole weeks so it ends just before now)",
    )
    replay.add_argument("--hub-id", help="override the mapping's hub id")
    replay.add_argument("--resident-id", help="override the mapping's resident id")
    replay.add_argument("--no-publish", action="store_true", help="write the site and truth files only")
    replay.add_argument("--out", type=Path, default=None, help=_OUT_HELP)
    replay.add_argument("--provision", action="store_true", help=_PROVISION_HELP)
    replay.add_argument("--protocol", choices=("z2m", "canonical"), default="z2m", help=_PROTOCOL_HELP)
    replay.add_argument("--last-seen", choices=("iso", "epoch", "none"), default=None, help=_LAST_SEEN_HELP)
    replay.add_argument("--max-outstanding", type=int, default=100, help=_OUTSTANDING_HELP)
    _time_flags(replay)
    replay.set_defaults(handler=_replay)


def _time_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--realtime", action="store_true", help="simulated time runs at wall-clock speed")
    group.add_argument("--speed", type=float, help="simulated seconds per wall second")
    group.add_argument("--fast", action="store_true", help="as fast as possible, messages carry last_seen")


_OUT_HELP = "folder for the site file and truth files (default: a folder under the system's temp directory)"
_PROVISION_HELP = "register the site in TELECARE_DATABASE_URL first (as `telecare site import`)"
_PROTOCOL_HELP = "z2m (Zigbee2MQTT topics, default) or canonical (telecare hub events)"
_LAST_SEEN_HELP = "Zigbee2MQTT last_seen format: iso, epoch or none (default: iso unless sped up)"
_OUTSTANDING_HELP = "most QoS 1 messages waiting for the broker's acknowledgement (default 100)"


def default_out(name: str) -> Path:
    """Where a simulator writes unless told: under the temp directory, never inside the repository."""
    return Path(tempfile.gettempdir()) / "telecare-sim" / name


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seed", type=int, default=7, help="seed: the same seed gives the same homes (default 7)")
    parser.add_argument("--start", type=iso_date, metavar="YYYY-MM-DD", help="first simulated day")
    parser.add_argument(
        "--prefix", default="sim", help="resident and hub ids are <prefix>-r001, <prefix>-h001"
    )
    parser.add_argument("--org", default=None, help="organisation id (default <prefix>-org)")
    parser.add_argument("--timezone", default="Europe/London", help="the scheme's IANA time zone (default %(default)s)")
    parser.add_argument("--protocol", choices=("z2m", "canonical"), default="z2m", help=_PROTOCOL_HELP)
    parser.add_argument("--last-seen", choices=("iso", "epoch", "none"), default=None, help=_LAST_SEEN_HELP)
    parser.add_argument("--availability", choices=("json", "plain", "none"), default="json",
                        help="availability messages: json (Z2M 2.x, default), plain (1.x) or none")
    parser.add_argument("--incidents-per-month", type=float, default=1.0,
                        help="pendant presses, falls, smoke, night incidents... per resident (default 1)")
    parser.add_argument("--faults-per-month", type=float, default=1.0,
                        help="flat batteries, offline devices and hubs, tamper per resident (default 1)")
    parser.add_argument("--deterioration-share", type=float, default=0.3,
                        help="share of residents whose nights slowly get worse (default 0.3)")
    parser.add_argument("--out", type=Path, default=None, help=_OUT_HELP)
    parser.add_argument("--provision", action="store_true", help=_PROVISION_HELP)
    parser.add_argument("--max-outstanding", type=int, default=100, help=_OUTSTANDING_HELP)


async def _provision(settings: Settings, document: dict[str, Any]) -> dict[str, int]:
    connection = await asyncpg.connect(settings.database_url)
    try:
        return await provision_site(connection=connection, site=SiteFile.model_validate(document))
    finally:
        await connection.close()


def _publish_blocking(
    *,
    settings: Settings,
    messages: Iterable[WireMessage],
    mode: TimeMode,
    origin: float,
    until: float | None,
    client_id: str,
    max_outstanding: int,
    stop: threading.Event,
) -> PublishStats:
    publisher = Publisher(settings=settings, client_id=client_id, max_outstanding=max_outstanding)
    publisher.connect()
    try:
        return publish_stream(
            messages=messages,
            publisher=publisher,
            pacer=Pacer(mode=mode, sim_origin=origin),
            stop=stop,
            until=until,
        )
    finally:
        publisher.close()


async def publish(
    *,
    settings: Settings,
    messages: Iterable[WireMessage],
    mode: TimeMode,
    origin: float,
    until: float | None,
    client_id: str,
    max_outstanding: int = 100,
) -> PublishStats:
    """Publish a stream from a worker thread (paho is blocking); cancelling stops it cleanly."""
    stop = threading.Event()
    try:
        return await asyncio.to_thread(
            _publish_blocking,
            settings=settings,
            messages=messages,
            mode=mode,
            origin=origin,
            until=until,
            client_id=client_id,
            max_outstanding=max_outstanding,
            stop=stop,
        )
    finally:
        stop.set()


def _config(
    args: argparse.Namespace,
    *,
    residents: int,
    days: int,
    start: date,
    live_from: float | None,
    last_seen: str,
) -> ScenarioConfig:
    return ScenarioConfig(
        seed=args.seed,
        residents=residents,
        days=days,
        start=start,
        prefix=args.prefix,
        org_id=args.org or f"{args.prefix}-org",
        timezone=args.timezone,
        protocol=args.protocol,
        z2m=Z2mOptions(last_seen=last_seen, availability=args.availability),  # type: ignore[arg-type]
        incidents_per_month=args.incidents_per_month,
        faults_per_month=args.faults_per_month,
        deterioration_share=args.deterioration_share,
        live_from=live_from,
        demo_calls_per_hour=getattr(args, "demo_calls_per_hour", 0.0),
    )


def _outputs(config: ScenarioConfig, out: Path) -> tuple[Path, TruthWriter]:
    site_path = write_site_file(path=out / "site.yaml", document=scenario_site(config=config))
    return site_path, TruthWriter(directory=out / "truth")


class _Counter:
    """Counts messages as they stream past, and tells `seen` how far through simulated time they are."""

    def __init__(self, messages: Iterable[WireMessage], seen: Callable[[float, int], None] | None = None) -> None:
        self.messages = messages
        self.count = 0
        self.seen = seen

    def __iter__(self) -> Iterator[WireMessage]:
        for message in self.messages:
            self.count += 1
            if self.seen is not None and self.count % 5000 == 0:
                self.seen(message.time, self.count)
            yield message


async def _scheme(args: argparse.Namespace, settings: Settings) -> int:
    mode = TimeMode.parse(realtime=args.realtime, speed=args.speed, fast=args.fast)
    tz = ZoneInfo(args.timezone)
    now = time.time()
    if mode.fast:
        start = args.start or (
            datetime.fromtimestamp(now, tz).date() - timedelta(days=math.ceil(args.hours / 24))
        )
        live_from = None
    else:
        start = datetime.fromtimestamp(now, tz).date()
        live_from = float(math.floor(now))
    # A sped-up clock runs ahead of the service's, so its own timestamps would look like the future.
    last_seen = args.last_seen or ("iso" if mode.fast or mode.speed == 1.0 else "none")
    elapsed = (
        (live_from or 0.0)
        - ScenarioConfig(seed=0, residents=0, days=0, start=start, timezone=args.timezone).start_epoch
        if live_from
        else 0.0
    )
    days = math.ceil((elapsed + args.hours * 3600) / 86400) + 1
    config = _config(
        args, residents=args.flats, days=days, start=start, live_from=live_from, last_seen=last_seen
    )
    out = args.out or default_out(f"scheme-{args.seed}")
    site_path, truth = _outputs(config, out)
    origin = config.live_epoch
    print_json(
        {
            "site_file": str(site_path),
            "truth_dir": str(truth.directory),
            "flats": args.flats,
            "mode": "fast" if mode.fast else f"x{mode.speed}",
            "broker": settings.mqtt_url,
        }
    )
    if args.provision:
        await _provision(settings, scenario_site(config=config))
    stats = await publish(
        settings=settings,
        messages=scenario_messages(config=config, truth=truth),
        mode=mode,
        origin=origin,
        until=origin + args.hours * 3600,
        client_id=f"telecare-sim-{args.prefix}-{args.seed}",
        max_outstanding=args.max_outstanding,
    )
    print_json({"published": stats.as_dict(), "site_file": str(site_path), "truth_dir": str(truth.directory)})
    return 0


async def _history(args: argparse.Namespace, settings: Settings) -> int:
    tz = ZoneInfo(args.timezone)
    start = args.start or (datetime.now(tz).date() - timedelta(days=args.days))
    config = _config(
        args,
        residents=args.residents,
        days=args.days,
        start=start,
        live_from=None,
        last_seen=args.last_seen or "iso",
    )
    out = args.out or default_out(f"history-{args.seed}")
    site_path, truth = _outputs(config, out)
    if args.provision:
        await _provision(settings, scenario_site(config=config))
    started = time.monotonic()
    span = max(1.0, time.time() - config.start_epoch)
    bar = progress_bar(description=f"simulating {args.residents} residents x {args.days} days")
    task = bar.add_task("history", total=span, status="")

    def seen(at: float, count: int) -> None:
        bar.update(task, completed=min(span, at - config.start_epoch), status=f"{count:,} messages")

    messages = _Counter(scenario_messages(config=config, truth=truth), seen=seen)
    with bar:
        result: dict[str, Any] = {
            "site_file": str(site_path),
            "truth_dir": str(truth.directory),
            "residents": args.residents,
            "days": args.days,
            "start": start.isoformat(),
        }
        if args.publish:
            stats = await publish(
                settings=settings,
                messages=messages,
                mode=TimeMode(None),
                origin=config.start_epoch,
                until=time.time(),
                client_id=f"telecare-sim-{args.prefix}-{args.seed}",
                max_outstanding=args.max_outstanding,
            )
            result["published"] = stats.as_dict()
        else:
            stream = (out / "stream.tsv").open("wb") if args.write_stream else None
            try:
                for message in messages:
                    if stream is not None:
                        stream.write(message.stream_line())
            finally:
                if stream is not None:
                    stream.close()
            if stream is not None:
                result["stream"] = str(out / "stream.tsv")
        bar.update(task, completed=span, status=f"{messages.count:,} messages")
    seconds = time.monotonic() - started
    result["messages"] = messages.count
    result["seconds"] = round(seconds, 2)
    result["messages_per_s"] = round(messages.count / seconds, 1) if seconds else None
    print_json(result)
    return 0


async def _load(args: argparse.Namespace, settings: Settings) -> int:
    homes = load_homes(prefix=args.prefix, homes=args.homes)
    document = load_site(prefix=args.prefix, homes=homes)
    site_path = write_site_file(path=(args.out or default_out("load")) / "site.yaml", document=document)
    if args.provision:
        await _provision(settings, document)
    start = time.time()
    messages = itertools.takewhile(
        lambda m: m.time <= start + args.seconds,
        load_messages(
            homes=homes, rate=args.rate, start=start, seed=args.seed, options=Z2mOptions(last_seen="iso")
        ),
    )
    stats = await publish(
        settings=settings,
        messages=messages,
        mode=TimeMode(1.0),
        origin=start,
        until=None,
        client_id=f"telecare-load-{args.prefix}-{args.seed}",
        max_outstanding=args.max_outstanding,
    )
    print_json(
        {
            "site_file": str(site_path),
            "homes": args.homes,
            "target_rate": args.rate,
            "published": stats.as_dict(),
        }
    )
    return 0


async def _replay(args: argparse.Namespace, settings: Settings) -> int:
    mapping = load_mapping(path=args.mapping)
    if args.hub_id or args.resident_id:
        home = mapping.home.model_copy(
            update={
                "hub_id": args.hub_id or mapping.home.hub_id,
                "resident_id": args.resident_id or mapping.home.resident_id,
            }
        )
        mapping = mapping.model_copy(update={"home": home})
    mode = TimeMode.parse(
        realtime=args.realtime, speed=args.speed, fast=args.fast or not (args.realtime or args.speed)
    )
    shift = timedelta(days=args.shift_days) if args.shift_days is not None else None
    plan, summary = plan_replay(
        fmt=args.format,
        sensors=args.sensors,
        labels=args.labels,
        mapping=mapping,
        shift=shift,
        now=time.time(),
        source=f"{args.format}:{args.sensors.name}",
    )
    out = args.out or default_out("replay")
    out.mkdir(parents=True, exist_ok=True)
    document = replay_site(mapping=mapping, protocol=args.protocol)
    site_path = write_site_file(path=out / "site.yaml", document=document)
    truth_path = out / f"{mapping.home.resident_id}.jsonl"
    truth_path.write_bytes(b"".join(encode(record) for record in plan.truth))
    result: dict[str, Any] = {"site_file": str(site_path), "truth_file": str(truth_path), **summary}
    if args.provision:
        await _provision(settings, document)
    if not args.no_publish:
        last_seen: LastSeen = args.last_seen or ("iso" if mode.fast else "none")
        messages = replay_messages(
            plan=plan, mapping=mapping, protocol=args.protocol, options=Z2mOptions(last_seen=last_seen)
        )
        stats = await publish(
            settings=settings,
            messages=messages,
            mode=mode,
            origin=plan.first - 60,
            until=None,
            client_id=f"telecare-replay-{mapping.home.hub_id}",
            max_outstanding=args.max_outstanding,
        )
        result["published"] = stats.as_dict()
    print_json(result)
    return 0
