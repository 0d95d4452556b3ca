"""What the world does to a device (a stimulus) and what a hub puts on the wire (a message)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Action(StrEnum):
    """What happens to a device at an instant."""

    DETECT = "detect"  # a PIR or vibration sensor senses something; the hub clears it after its timer
    SET = "set"  # the device's own state changes (door opens, mat pressed, plug draws power, ...)
    CHECKIN = "checkin"  # a periodic report of unchanged state (battery, link quality)
    MUTE = "mute"  # the device goes silent (flat battery, out of range) before anyone notices
    DEVICE_OFFLINE = "device_offline"  # the hub announces the device unavailable
    DEVICE_ONLINE = "device_online"  # the device is back and reports its state
    HUB_OFFLINE = "hub_offline"  # the whole bridge goes away (its last will fires)
    HUB_ONLINE = "hub_online"  # the bridge comes back and re-publishes its cached state


Fields = tuple[tuple[str, object], ...]


@dataclass(frozen=True, slots=True)
class Stimulus:
    """One thing happening to one device at one time (epoch seconds, UTC)."""

    time: float
    device: str
    action: Action
    fields: Fields = ()


@dataclass(frozen=True, slots=True)
class WireMessage:
    """One MQTT publication, stamped with the simulated time it belongs to."""

    time: float
    topic: str
    payload: bytes
    retain: bool = False

    def stream_line(self) -> bytes:
        """The message as one line of the stream file (stable, so runs compare byte for byte)."""
        flag = b"R" if self.retain else b"-"
        return b"%.3f\t%s\t%s\t%s\n" % (self.time, flag, self.topic.encode(), self.payload)


HUB_DEVICE = ""  # the `device` of hub-level stimuli
