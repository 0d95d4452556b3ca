"""Simulator throughput: events/s generated for a 50-resident, 90-day history, and published over QoS 1.

Generation runs the whole history (no broker). Publishing pushes the first `--publish-messages` of the
same stream (generated beforehand) through a private Mosquitto at QoS 1, with `mosquitto_sub`
counting receipt, so both rates come from the same run on the same machine. Prints one JSON document.
"""

from __future__ import annotations

import argparse
import itertools
import json
import subprocess
import sys
import tempfile
import threading
import time
from datetime import date
from pathlib import Path

from simulators.clock import Pacer, TimeMode
from simulators.publisher import Publisher, publish_stream
from simulators.scenario import ScenarioConfig, scenario_messages
from telecare.local_broker import LocalBroker
from telecare.settings import Settings


def _generate(config: ScenarioConfig) -> dict[str, float]:
    started = time.perf_counter()
    records: list[object] = []
    count = sum(1 for _ in scenario_messages(config=config, truth=records.append))
    seconds = time.perf_counter() - started
    return {"messages": count, "truth_records": len(records), "seconds": round(seconds, 2),
            "messages_per_s": round(count / seconds, 1)}


def _publish(config: ScenarioConfig, limit: int, max_outstanding: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as folder, LocalBroker(data_dir=Path(folder)) as broker:
        # The counting subscriber is mosquitto_sub in its own process, so it does not share our GIL.
        subscriber = subprocess.Popen(
            ["mosquitto_sub", "-p", str(broker.port), "-q", "1", "-t", "z2m/#", "-C", str(limit), "-F", "%m"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        time.sleep(0.5)
        settings = Settings(mqtt_url=broker.url, dev_mode=True)
        publisher = Publisher(settings=settings, client_id="bench-sim", max_outstanding=max_outstanding)
        publisher.connect()
        messages = list(itertools.islice(scenario_messages(config=config), limit))
        started = time.monotonic()
        stats = publish_stream(messages=messages, publisher=publisher, pacer=Pacer(mode=TimeMode(None), sim_origin=0),
                               stop=threading.Event())
        publisher.close()
        try:
            output, _ = subscriber.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            subscriber.kill()
            output, _ = subscriber.communicate()
        result: dict[str, float] = dict(stats.as_dict())
        result["received_by_subscriber"] = output.count(b"\n")
        result["seconds_until_all_received"] = round(time.monotonic() - started, 2)
        return result


def main() -> int:
    """Run the benchmark and print JSON."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--residents", type=int, default=50)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--publish-messages", type=int, default=100_000)
    parser.add_argument("--max-outstanding", type=int, default=100)
    args = parser.parse_args()
    config = ScenarioConfig(seed=args.seed, residents=args.residents, days=args.days, start=date(2025, 1, 6))
    generated = _generate(config)
    published = _publish(config, args.publish_messages, args.max_outstanding)
    result = {"scenario": {"residents": args.residents, "days": args.days, "seed": args.seed},
              "generated": generated, "published_qos1": published,
              "publish_to_generate_ratio": round(published["messages_per_s"] / generated["messages_per_s"], 3)}
    sys.stdout.write(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
