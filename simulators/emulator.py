"""The device-state machine a hub runs: cached state, clear timers, muted devices, hub outages.

Both wire protocols (Zigbee2MQTT and the canonical telecare event) share it and differ only in what
they publish for each change.
"""

from __future__ import annotations

import heapq
import random
from abc import ABC, abstractmethod

from simulators.layout import DeviceSpec, HomeLayout
from simulators.stimuli import Action, Stimulus, WireMessage

# Fields that Z2M's own timers reset (Aqara occupancy_timeout and vibration clear are both 90 s).
TIMED_FIELDS: dict[str, float] = {"occupancy": 90.0, "vibration": 90.0}
# Fields that describe one press or one shake: published once, never part of the cached state.
TRANSIENT_FIELDS = frozenset({"action"})


class HubEmulator(ABC):
    """Turns a time-ordered stream of stimuli for one home into wire messages.

    Stimuli before `live_from` only shape the cached state (a warm-up); the bridge then starts at
    `live_from` exactly as a real one would: bridge state, device list, availability, cached states.
    """

    def __init__(
        self, *, layout: HomeLayout, live_from: float, seed: str, clear_after_s: float = 90.0
    ) -> None:
        self.layout = layout
        self.live_from = live_from
        self.clear_after_s = clear_after_s
        self.rng = random.Random(f"{seed}/wire/{layout.hub_id}")
        self.specs = {spec.friendly_name: spec for spec in layout.devices}
        self.state: dict[str, dict[str, object]] = {
            spec.friendly_name: dict(spec.definition.initial_state) for spec in layout.devices
        }
        self.battery: dict[str, int] = {
            spec.friendly_name: 100 for spec in layout.devices if spec.definition.battery
        }
        self.muted: set[str] = set()
        self.hub_down = False
        self.started = False
        self._timers: list[tuple[float, int, str, str]] = []
        self._timer_seq = 0
        self._timer_due: dict[tuple[str, str], float] = {}

    # -- what each protocol publishes -------------------------------------------------------------
    @abstractmethod
    def bridge_messages(self, *, time: float, online: bool) -> list[WireMessage]:
        """Messages when the hub starts (with everything it announces) or goes away."""

    @abstractmethod
    def state_message(
        self, *, time: float, spec: DeviceSpec, changed: dict[str, object], transient: dict[str, object]
    ) -> list[WireMessage]:
        """Messages for one report from a device (`changed` is empty for a check-in)."""

    @abstractmethod
    def availability_message(self, *, time: float, spec: DeviceSpec, online: bool) -> list[WireMessage]:
        """Messages when the hub marks a device unavailable or available again."""

    # -- the machine --------------------------------------------------------------------------------
    def feed(self, stimulus: Stimulus) -> list[WireMessage]:
        """Fire due timers, then apply one stimulus; returns what went on the wire, in time order."""
        out = self.advance(until=stimulus.time)
        out += self._start_if_due(stimulus.time)
        out += self._apply(stimulus)
        return out

    def advance(self, *, until: float) -> list[WireMessage]:
        """Fire every clear timer due at or before `until`."""
        out: list[WireMessage] = []
        while self._timers and self._timers[0][0] <= until:
            due, _, name, field = heapq.heappop(self._timers)
            if self._timer_due.get((name, field)) != due:
                continue  # superseded by a later detection
            del self._timer_due[(name, field)]
            out += self._start_if_due(due)
            if self.hub_down or name in self.muted:
                continue
            self.state[name][field] = False
            out += self._publish(time=due, spec=self.specs[name], changed={field: False}, transient={})
        out += self._start_if_due(until)
        return out

    def _start_if_due(self, time: float) -> list[WireMessage]:
        if self.started or time < self.live_from:
            return []
        self.started = True
        return self.bridge_messages(time=self.live_from, online=True)

    def _live(self, time: float) -> bool:
        return self.started and time >= self.live_from

    def _publish(
        self, *, time: float, spec: DeviceSpec, changed: dict[str, object], transient: dict[str, object]
    ) -> list[WireMessage]:
        if not self._live(time):
            return []
        return self.state_message(time=time, spec=spec, changed=changed, transient=transient)

    def _schedule_clear(self, *, time: float, name: str, field: str) -> None:
        due = time + (self.clear_after_s if field == "occupancy" else TIMED_FIELDS[field])
        self._timer_seq += 1
        self._timer_due[(name, field)] = due
        heapq.heappush(self._timers, (due, self._timer_seq, name, field))

    def _apply(self, stimulus: Stimulus) -> list[WireMessage]:
        action, time, name = stimulus.action, stimulus.time, stimulus.device
        if action is Action.HUB_OFFLINE:
            if self.hub_down:
                return []
            self.hub_down = True
            # The bridge process is gone: its clear timers die with it, so a stale `true` survives.
            self._timers.clear()
            self._timer_due.clear()
            return self.bridge_messages(time=time, online=False) if self._live(time) else []
        if action is Action.HUB_ONLINE:
            if not self.hub_down:
                return []
            self.hub_down = False
            return self.bridge_messages(time=time, online=True) if self._live(time) else []
        if self.hub_down:
            return []
        spec = self.specs[name]
        if action is Action.MUTE:
            self.muted.add(name)
            return []
        if action is Action.DEVICE_OFFLINE:
            self.muted.add(name)
            return self.availability_message(time=time, spec=spec, online=False) if self._live(time) else []
        if action is Action.DEVICE_ONLINE:
            self.muted.discard(name)
            self._update(name, dict(stimulus.fields))
            if not self._live(time):
                return []
            return self.availability_message(time=time, spec=spec, online=True) + self.state_message(
                time=time, spec=spec, changed={}, transient={}
            )
        if name in self.muted:
            return []
        fields = dict(stimulus.fields)
        transient = {key: fields.pop(key) for key in list(fields) if key in TRANSIENT_FIELDS}
        changed = self._update(name, fields)
        if action is Action.DETECT:
            for field in TIMED_FIELDS:
                if fields.get(field) is True:
                    self._schedule_clear(time=time, name=name, field=field)
        return self._publish(time=time, spec=spec, changed=changed, transient=transient)

    def _update(self, name: str, fields: dict[str, object]) -> dict[str, object]:
        changed: dict[str, object] = {}
        battery = fields.pop("battery", None)
        if isinstance(battery, int) and name in self.battery and battery != self.battery[name]:
            self.battery[name] = battery
            changed["battery"] = battery
        current = self.state[name]
        for key, value in fields.items():
            if current.get(key) != value:
                changed[key] = value
            current[key] = value
        return changed
