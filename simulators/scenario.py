"""A simulated scheme: residents, their flats and hubs, day after day, as one time-ordered stream.

Everything random comes from `random.Random` instances seeded from the scenario seed and the
resident's index (and the day), so the same scenario and seed give the same bytes, and a longer run
starts with exactly the days a shorter one had.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from simulators import incidents as plans
from simulators.canonical import CanonicalHub
from simulators.demo import care_details, demo_calls, press_stimuli
from simulators.deterioration import NEUTRAL, draw_episode, narrowed
from simulators.emulator import HubEmulator
from simulators.layout import HomeLayout, standard_flat
from simulators.profile import ProfileRanges, draw_profile
from simulators.render import (
    COLD_ALARM_C,
    checkin_stimuli,
    first_reading_below,
    stay_stimuli,
    temperature_stimuli,
    visit_stimuli,
)
from simulators.routine import Place, Stay, local_epoch, plan_day, wake_minutes
from simulators.sitefile import SiteResidentSpec, site_document
from simulators.stimuli import Stimulus, WireMessage
from simulators.truth import SCHEMA, day_record, night_record, stamp
from simulators.z2m import Z2mHub, Z2mOptions
from telecare.vocabulary import DeviceType

TruthSink = Callable[[dict[str, Any]], None]


@dataclass(frozen=True, slots=True)
class ScenarioConfig:
    """What to simulate. Ids are `<prefix>-r001` (residents) and `<prefix>-h001` (hubs)."""

    seed: int
    residents: int
    days: int
    start: date
    prefix: str = "sim"
    org_id: str = "sim-org"
    org_name: str = "Simulated supported-living scheme"
    timezone: str = "Europe/London"
    protocol: Literal["z2m", "canonical"] = "z2m"
    z2m: Z2mOptions = field(default_factory=Z2mOptions)
    canonical_base_topic: str = "telecare/v1"
    night_window: tuple[time, time] = (time(22, 0), time(7, 0))
    ranges: ProfileRanges = field(default_factory=ProfileRanges)
    deterioration_share: float = 0.3
    # Kinds of deterioration drawn in turn for the residents who deteriorate (see simulators/deterioration.py),
    # and the earliest day an episode may begin (None: the simulator's default, within the first two weeks).
    episode_kinds: tuple[str, ...] = ("mixed",)
    episode_earliest_day: int | None = None
    incidents_per_month: float = 1.0
    faults_per_month: float = 1.0
    # (resident index, day index, kind): incidents and faults a test wants for certain.
    forced: tuple[tuple[int, int, str], ...] = ()
    # Epoch seconds from which messages go on the wire (default: the start date's local midnight).
    live_from: float | None = None
    # Extra pendant presses per hour across the scheme, the first 20 s after going live (`telecare run`).
    demo_calls_per_hour: float = 0.0

    @property
    def tz(self) -> ZoneInfo:
        """The scheme's time zone."""
        return ZoneInfo(self.timezone)

    @property
    def start_epoch(self) -> float:
        """Local midnight at the start date."""
        return local_epoch(tz=self.tz, day=self.start, minutes=0)

    @property
    def live_epoch(self) -> float:
        """When the hubs go live."""
        return self.start_epoch if self.live_from is None else self.live_from

    def resident_id(self, index: int) -> str:
        """The pseudonymous id of resident `index` (0-based)."""
        return f"{self.prefix}-r{index + 1:03d}"

    def hub_id(self, index: int) -> str:
        """The hub id of resident `index`'s flat."""
        return f"{self.prefix}-h{index + 1:03d}"

    def layout(self, index: int) -> HomeLayout:
        """The devices in resident `index`'s flat."""
        return standard_flat(hub_id=self.hub_id(index))


class ResidentSim:
    """One resident and their flat, producing wire messages lazily and truth records as it goes."""

    def __init__(self, *, config: ScenarioConfig, index: int, truth: TruthSink | None = None) -> None:
        self.config = config
        self.index = index
        self.truth = truth or (lambda _record: None)
        self.resident_id = config.resident_id(index)
        self.home = config.layout(index)
        seed = config.seed
        profile_rng = random.Random(f"{seed}/profile/{index}")
        self.profile = draw_profile(rng=profile_rng, ranges=config.ranges)
        deteriorates = profile_rng.random() < config.deterioration_share
        episode = (
            draw_episode(rng=profile_rng, first_day=config.start, days=config.days,
                         earliest_day=config.episode_earliest_day) if deteriorates else None
        )
        # The kind comes from its own stream, so adding kinds leaves every other draw of the scenario as it was.
        kind = random.Random(f"{seed}/episode-kind/{index}").choice(config.episode_kinds)
        self.episode = narrowed(episode, kind=kind) if episode is not None else None
        schedule_rng = random.Random(f"{seed}/schedule/{index}")
        planned = plans.draw_schedule(
            rng=schedule_rng,
            days=config.days,
            per_month=config.incidents_per_month,
            kinds=plans.INCIDENT_KINDS,
        )
        planned += plans.draw_schedule(
            rng=schedule_rng, days=config.days, per_month=config.faults_per_month, kinds=plans.FAULT_KINDS
        )
        planned += [plans.Planned(day, kind) for who, day, kind in config.forced if who == index]
        self.planned: dict[int, list[str]] = {}
        for item in planned:
            self.planned.setdefault(item.day_index, []).append(item.kind)
        self.emulator = self._emulator()
        # A cold spell can outlast the day it began on; the thermometer keeps seeing it.
        self.cold: tuple[float, float, float] | None = None

    def _emulator(self) -> HubEmulator:
        seed = str(self.config.seed)
        if self.config.protocol == "canonical":
            return CanonicalHub(
                layout=self.home,
                live_from=self.config.live_epoch,
                seed=seed,
                base_topic=self.config.canonical_base_topic,
            )
        return Z2mHub(layout=self.home, live_from=self.config.live_epoch, seed=seed, options=self.config.z2m)

    def _record(self, record: dict[str, Any], *, at: float) -> None:
        if at >= self.config.live_epoch:
            self.truth({"resident_id": self.resident_id, **record})

    def header(self) -> dict[str, Any]:
        """The truth file's first line."""
        config = self.config
        return {
            "record": "resident",
            "schema": SCHEMA,
            "resident_id": self.resident_id,
            "hub_id": self.home.hub_id,
            "org_id": config.org_id,
            "source": "simulated",
            "seed": config.seed,
            "timezone": config.timezone,
            "night_window": {
                "start": config.night_window[0].strftime("%H:%M"),
                "end": config.night_window[1].strftime("%H:%M"),
            },
            "period": {
                "start": stamp(config.live_epoch, config.tz),
                "end": stamp(
                    local_epoch(tz=config.tz, day=config.start, minutes=config.days * 1440), config.tz
                ),
            },
            "cohort": "deterioration" if self.episode else "control",
            "profile": self.profile.as_dict(),
            "devices": [
                {
                    "friendly_name": spec.friendly_name,
                    "type": spec.type.value,
                    "location": spec.location.value,
                    "model": spec.model,
                }
                for spec in self.home.devices
            ],
        }

    def messages(self) -> Iterator[WireMessage]:
        """Every message this flat's hub publishes, in time order."""
        config, tz, home = self.config, self.config.tz, self.home
        self.truth(self.header())
        if self.episode is not None:
            self._record(
                {"record": "deterioration", **self.episode.truth()},
                at=local_epoch(tz=tz, day=self.episode.start, minutes=1440),
            )
        pending: list[tuple[float, int, Stimulus]] = []
        sequence = 0
        warmup_rng = random.Random(f"{config.seed}/warmup/{self.index}")
        mods0 = self.episode.modifiers(config.start) if self.episode else NEUTRAL
        rise = local_epoch(
            tz=tz,
            day=config.start,
            minutes=wake_minutes(profile=self.profile, day=config.start, rng=warmup_rng, mods=mods0),
        )
        first: list[Stimulus] = stay_stimuli(
            home=home, stays=[Stay(config.start_epoch, rise, Place.BED)], tz=tz, rng=warmup_rng
        )
        first += checkin_stimuli(home=home, start=config.start_epoch, end=rise, rng=warmup_rng)
        first += self._demo_presses()
        first += temperature_stimuli(
            home=home,
            start=config.start_epoch,
            end=rise,
            base_c=self.profile.flat_temperature_c,
            tz=tz,
            rng=warmup_rng,
        )
        batches = [first]
        for day_index in range(config.days):
            day = config.start + timedelta(days=day_index)
            stimuli, next_rise = self._day(day_index=day_index, day=day, rise=rise)
            batches.append(stimuli)
            for batch in batches:
                for stimulus in batch:
                    sequence += 1
                    heapq.heappush(pending, (stimulus.time, sequence, stimulus))
            batches = []
            # Everything before the next rise is final: later days never produce earlier stimuli.
            while pending and pending[0][0] < next_rise:
                yield from self.emulator.feed(heapq.heappop(pending)[2])
            rise = next_rise
        end = rise
        while pending and pending[0][0] <= end:
            yield from self.emulator.feed(heapq.heappop(pending)[2])
        yield from self.emulator.advance(until=end)

    def _demo_presses(self) -> list[Stimulus]:
        config = self.config
        if config.live_from is None or config.demo_calls_per_hour <= 0:
            return []
        end = local_epoch(tz=config.tz, day=config.start, minutes=config.days * 1440)
        times = demo_calls(seed=config.seed, residents=config.residents, start=config.live_from, end=end,
                           per_hour=config.demo_calls_per_hour).get(self.index, [])
        for at in times:
            self._record({"record": "incident", "incident": "pendant_press", "start": stamp(at, config.tz),
                          "end": None, "location": None, "device": "pendant", "demo": True}, at=at)
        return list(press_stimuli(times=times))

    def _day(self, *, day_index: int, day: date, rise: float) -> tuple[list[Stimulus], float]:
        config, tz, home = self.config, self.config.tz, self.home
        rng = random.Random(f"{config.seed}/day/{self.index}/{day_index}")
        mods = self.episode.modifiers(day) if self.episode else NEUTRAL
        next_mods = self.episode.modifiers(day + timedelta(days=1)) if self.episode else NEUTRAL
        kinds = self.planned.get(day_index, [])
        plan = plan_day(
            profile=self.profile,
            day=day,
            tz=tz,
            rise=rise,
            rng=rng,
            mods=mods,
            next_mods=next_mods,
            incidents=plans.night_incidents(kinds),
        )
        stimuli: list[Stimulus] = []
        records: list[tuple[float, dict[str, Any]]] = []
        for kind in kinds:
            if kind in plans.DEVICE_INCIDENTS and kind != "cold_flat":
                applied = plans.device_incident(kind=kind, plan=plan, home=home, rng=rng, tz=tz)
                if applied is not None:
                    plan, extra, record = applied
                    stimuli += extra
                    records.append((rise, record))
            elif kind == "cold_flat":
                cold = plans.cold_spell(plan=plan, rng=rng)
                self.cold = cold
                thermometer = home.find(device_type=DeviceType.TEMPERATURE)
                records.append(
                    (
                        cold[0],
                        {
                            "record": "incident",
                            "incident": "cold_flat",
                            "start": stamp(cold[0], tz),
                            "end": stamp(cold[1], tz),
                            "location": "living_room",
                            "device": thermometer.friendly_name if thermometer else None,
                            "coldest_c": round(cold[2], 1),
                        },
                    )
                )
            elif kind in plans.FAULT_KINDS:
                start = rng.uniform(rise, plan.next_rise)
                extra, record = plans.fault(kind=kind, start=start, home=home, rng=rng, tz=tz)
                stimuli += extra
                records.append((start, {"record": "device_fault", **record}))
        for record in plans.night_incident_records(plan=plan, kinds=kinds, tz=tz):
            records.append((plan.bedtime, record))
        stimuli += stay_stimuli(home=home, stays=plan.stays, tz=tz, rng=rng)
        stimuli += visit_stimuli(home=home, visits=plan.visits, rng=rng)
        stimuli += checkin_stimuli(home=home, start=rise, end=plan.next_rise, rng=rng)
        thermometer_readings = temperature_stimuli(
            home=home,
            start=rise,
            end=plan.next_rise,
            base_c=self.profile.flat_temperature_c,
            tz=tz,
            rng=rng,
            cold=self.cold,
        )
        stimuli += thermometer_readings
        for _, record in records:
            if record.get("incident") == "cold_flat":
                record["first_reading_below"] = first_reading_below(
                    readings=thermometer_readings, threshold_c=COLD_ALARM_C, tz=tz)
        self._record(day_record(resident_id=self.resident_id, plan=plan, rise=rise, tz=tz), at=rise)
        self._record(
            night_record(resident_id=self.resident_id, plan=plan, tz=tz, window=config.night_window),
            at=plan.bedtime,
        )
        for at, record in records:
            self._record(record, at=at)
        return stimuli, plan.next_rise


def scenario_messages(*, config: ScenarioConfig, truth: TruthSink | None = None) -> Iterator[WireMessage]:
    """All flats' messages merged in time order (ties broken by resident, so the order is stable)."""
    sims = [ResidentSim(config=config, index=index, truth=truth) for index in range(config.residents)]
    return heapq.merge(*(sim.messages() for sim in sims), key=lambda message: message.time)


def scenario_site(*, config: ScenarioConfig) -> dict[str, Any]:
    """The site file for the scheme this scenario simulates."""
    residents = [
        SiteResidentSpec(
            resident_id=config.resident_id(index),
            name=f"Resident {index + 1}",
            flat=f"Flat {index + 1}",
            home=config.layout(index),
            night_window=config.night_window,
            protocol=config.protocol,
            details=care_details(seed=config.seed, index=index),
        )
        for index in range(config.residents)
    ]
    return site_document(
        org_id=config.org_id, org_name=config.org_name, timezone=config.timezone, residents=residents
    )
