"""Publishing over the real broker: a live scheme of 12 flats, and load mode within its flow-control bound."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from telecare.cli import build_parser
from telecare.local_broker import LocalBroker
from telecare.settings import Settings
from telecare.site import load_site_file


class _Receiver:
    """A bare subscriber that counts what arrives per hub."""

    def __init__(self, *, broker: LocalBroker, hub_prefix: str) -> None:
        self.hubs: Counter[str] = Counter()
        self.hub_prefix = hub_prefix
        self.ready = threading.Event()
        self.client = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        self.client.on_message = self._count
        self.client.on_subscribe = lambda *_args: self.ready.set()
        self.client.connect("127.0.0.1", broker.port)
        self.client.subscribe("z2m/#", qos=1)
        self.client.loop_start()
        assert self.ready.wait(10)

    def _count(self, _client: object, _userdata: object, message: mqtt.MQTTMessage) -> None:
        hub = message.topic.split("/")[1]
        if hub.startswith(self.hub_prefix):
            self.hubs.update([hub])

    def wait_for(self, total: int, timeout_s: float = 20) -> None:
        deadline = time.monotonic() + timeout_s
        while sum(self.hubs.values()) < total and time.monotonic() < deadline:
            time.sleep(0.05)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


async def test_a_twelve_flat_scheme_runs_live_against_the_broker(broker: LocalBroker, settings: Settings,
                                                                 unique: str, tmp_path: Path) -> None:
    receiver = _Receiver(broker=broker, hub_prefix=f"s{unique}-h")
    args = build_parser().parse_args(["simulate", "scheme", "--flats", "12", "--speed", "1200", "--hours", "0.3",
                                      "--prefix", f"s{unique}", "--out", str(tmp_path)])
    started = time.monotonic()
    assert await args.handler(args, settings) == 0
    elapsed = time.monotonic() - started
    receiver.wait_for(12 * 27)
    receiver.close()
    # 18 simulated minutes at x1200 take about a second of wall time: paced, not dumped.
    assert 0.8 <= elapsed < 10
    assert len(receiver.hubs) == 12 and min(receiver.hubs.values()) >= 27
    site = load_site_file(path=tmp_path / "site.yaml")
    assert len(site.residents) == 12 and len(list((tmp_path / "truth").glob("*.jsonl"))) == 12


async def test_load_mode_holds_its_rate_within_the_outstanding_bound(
    broker: LocalBroker, settings: Settings, unique: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    receiver = _Receiver(broker=broker, hub_prefix=f"l{unique}-h")
    args = build_parser().parse_args(["simulate", "load", "--homes", "20", "--rate", "2000", "--seconds", "1.5",
                                      "--max-outstanding", "50", "--prefix", f"l{unique}", "--out", str(tmp_path)])
    assert await args.handler(args, settings) == 0
    report = json.loads(capsys.readouterr().out)["published"]
    assert report["max_outstanding_seen"] <= 50 and report["acked"] == report["messages"]
    # The paced stimuli (t = 0 .. 1.5 s inclusive) plus each bridge start-up: state, device list, 13 x
    # availability, 13 x cached state.
    expected = int(2000 * 1.5) + 1 + 20 * 28
    receiver.wait_for(expected)
    receiver.close()
    received = sum(receiver.hubs.values())
    assert received == expected and len(receiver.hubs) == 20
