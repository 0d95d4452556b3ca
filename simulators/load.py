"""Load mode: many homes producing valid Zigbee2MQTT traffic at a target message rate."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import time

from simulators.layout import HomeLayout, standard_flat
from simulators.sitefile import SiteResidentSpec, site_document
from simulators.stimuli import Action, Stimulus, WireMessage
from simulators.z2m import Z2mHub, Z2mOptions
from telecare.vocabulary import DeviceType


def load_homes(*, prefix: str, homes: int) -> list[HomeLayout]:
    """The flats load mode drives (the standard flat, one hub each)."""
    return [standard_flat(hub_id=f"{prefix}-h{index + 1:04d}") for index in range(homes)]


def load_site(*, prefix: str, homes: list[HomeLayout], timezone: str = "Europe/London") -> dict[str, object]:
    """The site file for the load homes."""
    residents = [
        SiteResidentSpec(
            resident_id=f"{prefix}-r{index + 1:04d}",
            name=f"Load resident {index + 1}",
            flat=f"Load flat {index + 1}",
            home=home,
            night_window=(time(22), time(7)),
        )
        for index, home in enumerate(homes)
    ]
    return site_document(org_id=f"{prefix}-org", org_name="Load test", timezone=timezone, residents=residents)


def _stimulus(*, home: Z2mHub, at: float, rng: random.Random) -> Stimulus:
    spec = rng.choice(home.layout.devices)
    name = spec.friendly_name
    state = home.state[name]
    # One state change per stimulus, so every stimulus is exactly one message on the wire.
    if spec.type in (DeviceType.PIR,):
        return Stimulus(
            at,
            name,
            Action.SET,
            (("occupancy", not state.get("occupancy")), ("illuminance", rng.randrange(0, 500))),
        )
    if spec.type is DeviceType.DOOR:
        return Stimulus(at, name, Action.SET, (("contact", not state.get("contact")),))
    if spec.type is DeviceType.BED_SENSOR:
        return Stimulus(at, name, Action.SET, (("pressure", not state.get("pressure")),))
    if spec.type is DeviceType.TEMPERATURE:
        return Stimulus(at, name, Action.SET, (("temperature", round(rng.uniform(17, 23), 2)),))
    if spec.type is DeviceType.PLUG:
        return Stimulus(at, name, Action.SET, (("power", rng.choice((0, 2100))),))
    return Stimulus(at, name, Action.CHECKIN)


def load_messages(
    *, homes: list[HomeLayout], rate: float, start: float, seed: int, options: Z2mOptions
) -> Iterator[WireMessage]:
    """An endless stream: each bridge starts, then stimuli arrive round-robin at `rate` per second."""
    rng = random.Random(f"{seed}/load")
    hubs = [Z2mHub(layout=home, live_from=start, seed=str(seed), options=options) for home in homes]
    for hub in hubs:
        yield from hub.advance(until=start)
    index = 0
    while True:
        at = start + index / rate
        hub = hubs[index % len(hubs)]
        yield from hub.feed(_stimulus(home=hub, at=at, rng=rng))
        index += 1
