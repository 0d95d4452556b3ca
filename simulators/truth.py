"""Ground truth: what really happened in each simulated (or recorded) home, as versioned JSON lines.

One file per resident, `<resident_id>.jsonl`. Every line is an object with a `record` field; the
first line is the `resident` header carrying `schema: "telecare.truth/1"`. Times are ISO 8601 with
the resident's UTC offset. See docs/simulators.md for every field.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson

from simulators.routine import DayPlan, Place, Stay, local_epoch

SCHEMA = "telecare.truth/1"


class TruthError(ValueError):
    """A truth file that this loader cannot read."""


def stamp(at: float, tz: ZoneInfo) -> str:
    """An epoch time as ISO 8601 with the local offset, to the second."""
    return datetime.fromtimestamp(round(at), tz).isoformat()


def encode(record: dict[str, Any]) -> bytes:
    """One truth line (sorted keys, so identical runs give identical bytes)."""
    return orjson.dumps(record, option=orjson.OPT_SORT_KEYS) + b"\n"


def night_window_bounds(*, tz: ZoneInfo, night_of: date, window: tuple[time, time]) -> tuple[float, float]:
    """Epoch bounds of the night window that starts on the evening of `night_of`."""
    start_min = window[0].hour * 60 + window[0].minute
    end_min = window[1].hour * 60 + window[1].minute
    if end_min <= start_min:
        end_min += 24 * 60
    return local_epoch(tz=tz, day=night_of, minutes=start_min), local_epoch(
        tz=tz, day=night_of, minutes=end_min
    )


def _door_exits(stays: Iterable[Stay], tz: ZoneInfo) -> list[dict[str, Any]]:
    return [
        {
            "out": stamp(stay.start, tz),
            "back": stamp(stay.end, tz),
            "minutes": round((stay.end - stay.start) / 60, 1),
        }
        for stay in stays
        if stay.place is Place.OUT
    ]


def night_record(
    *, resident_id: str, plan: DayPlan, tz: ZoneInfo, window: tuple[time, time]
) -> dict[str, Any]:
    """The truth about one night: onset, wake, each bed exit and where it went, door exits in the window."""
    night = [stay for stay in plan.stays if stay.start >= plan.bedtime]
    beds = [stay for stay in night if stay.place is Place.BED]
    exits: list[dict[str, Any]] = []
    bathroom_visits = 0
    for left, back in itertools.pairwise(beds):
        between = [stay for stay in night if left.end <= stay.start < back.start]
        rooms = [stay for stay in between if stay.place not in (Place.BEDROOM, Place.HALLWAY)]
        main = max(rooms, key=lambda stay: stay.end - stay.start).place if rooms else Place.BEDROOM
        bathroom_visits += any(stay.place is Place.BATHROOM for stay in between)
        exits.append(
            {
                "start": stamp(left.end, tz),
                "end": stamp(back.start, tz),
                "minutes": round((back.start - left.end) / 60, 1),
                "to": main.value,
            }
        )
    low, high = night_window_bounds(tz=tz, night_of=plan.day, window=window)
    outside = [stay for stay in plan.stays if stay.place is Place.OUT and low <= stay.start < high]
    return {
        "record": "night",
        "resident_id": resident_id,
        "night_of": plan.day.isoformat(),
        "sleep_onset": stamp(plan.bedtime, tz),
        "wake": stamp(plan.next_rise, tz),
        "usual_wake": stamp(plan.usual_rise, tz),
        "in_bed_minutes": round(sum(stay.end - stay.start for stay in beds) / 60, 1),
        "bed_exits": exits,
        "bed_exit_count": len(exits),
        "minutes_out_of_bed": round(sum(item["minutes"] for item in exits), 1),
        "bathroom_visits": bathroom_visits,
        "door_exits": _door_exits(outside, tz),
    }


def day_record(*, resident_id: str, plan: DayPlan, rise: float, tz: ZoneInfo) -> dict[str, Any]:
    """The truth about one day from rise to bedtime: outings, visitors, kitchen use."""
    day = [stay for stay in plan.stays if stay.start < plan.bedtime]
    return {
        "record": "day",
        "resident_id": resident_id,
        "date": plan.day.isoformat(),
        "rise": stamp(rise, tz),
        "bedtime": stamp(plan.bedtime, tz),
        "door_exits": _door_exits(day, tz),
        "visits": [{"arrive": stamp(a, tz), "leave": stamp(b, tz)} for a, b in plan.visits],
        "kitchen_visits": sum(stay.place is Place.KITCHEN for stay in day),
        "kettle_uses": sum(stay.kettle for stay in day),
    }


class TruthWriter:
    """Writes each resident's records to `<directory>/<resident_id>.jsonl`."""

    def __init__(self, *, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.paths: dict[str, Path] = {}

    def __call__(self, record: dict[str, Any]) -> None:
        """Append one record to its resident's file."""
        resident_id = str(record["resident_id"])
        path = self.paths.get(resident_id)
        if path is None:
            path = self.directory / f"{resident_id}.jsonl"
            path.write_bytes(b"")
            self.paths[resident_id] = path
        with path.open("ab") as handle:
            handle.write(encode(record))


# -- loading ---------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class BedExit:
    """One time out of bed during the night."""

    start: datetime
    end: datetime
    minutes: float
    to: str


@dataclass(frozen=True, slots=True)
class Night:
    """One night of truth."""

    night_of: date
    sleep_onset: datetime
    wake: datetime
    bed_exits: tuple[BedExit, ...]
    minutes_out_of_bed: float
    bathroom_visits: int
    door_exits: tuple[tuple[datetime, datetime], ...]


@dataclass(frozen=True, slots=True)
class Window:
    """An incident, a deterioration episode or a device fault: what, and from when to when."""

    record: str
    kind: str
    start: datetime
    end: datetime | None
    detail: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ResidentTruth:
    """Everything the truth file says about one resident."""

    header: dict[str, Any]
    nights: tuple[Night, ...]
    days: tuple[dict[str, Any], ...]
    incidents: tuple[Window, ...]
    episodes: tuple[Window, ...]
    faults: tuple[Window, ...]
    extra: tuple[dict[str, Any], ...] = field(default=())

    @property
    def resident_id(self) -> str:
        """The resident's id."""
        return str(self.header["resident_id"])


def _when(value: Any) -> datetime:
    if isinstance(value, str) and len(value) == 10:
        return datetime.fromisoformat(value + "T00:00:00+00:00")
    return datetime.fromisoformat(str(value))


def _window(record: dict[str, Any], kind_field: str) -> Window:
    end = record.get("end")
    return Window(
        record=str(record["record"]),
        kind=str(record.get(kind_field, record["record"])),
        start=_when(record["start"]),
        end=_when(end) if end else None,
        detail=record,
    )


def load_truth(*, path: Path) -> ResidentTruth:
    """Read one resident's truth file, checking its schema version."""
    lines = [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]
    if not lines or lines[0].get("record") != "resident" or lines[0].get("schema") != SCHEMA:
        raise TruthError(f"{path}: not a {SCHEMA} file (the first line must be the resident header)")
    nights: list[Night] = []
    days: list[dict[str, Any]] = []
    incidents: list[Window] = []
    episodes: list[Window] = []
    faults: list[Window] = []
    extra: list[dict[str, Any]] = []
    for record in lines[1:]:
        kind = record.get("record")
        if kind == "night":
            nights.append(
                Night(
                    night_of=date.fromisoformat(record["night_of"]),
                    sleep_onset=_when(record["sleep_onset"]),
                    wake=_when(record["wake"]),
                    bed_exits=tuple(
                        BedExit(
                            _when(item["start"]), _when(item["end"]), float(item["minutes"]), str(item["to"])
                        )
                        for item in record["bed_exits"]
                    ),
                    minutes_out_of_bed=float(record["minutes_out_of_bed"]),
                    bathroom_visits=int(record["bathroom_visits"]),
                    door_exits=tuple(
                        (_when(item["out"]), _when(item["back"])) for item in record["door_exits"]
                    ),
                )
            )
        elif kind == "day":
            days.append(record)
        elif kind == "incident":
            incidents.append(_window(record, "incident"))
        elif kind == "deterioration":
            episodes.append(_window(record, "record"))
        elif kind == "device_fault":
            faults.append(_window(record, "fault"))
        else:
            extra.append(record)
    return ResidentTruth(
        header=lines[0],
        nights=tuple(nights),
        days=tuple(days),
        incidents=tuple(incidents),
        episodes=tuple(episodes),
        faults=tuple(faults),
        extra=tuple(extra),
    )


def load_truth_dir(*, directory: Path) -> dict[str, ResidentTruth]:
    """Every truth file in a directory, by resident id."""
    return {
        truth.resident_id: truth
        for truth in (load_truth(path=path) for path in sorted(directory.glob("*.jsonl")))
    }
