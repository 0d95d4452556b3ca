"""Compare the alerts a rules run raised with the simulators' ground truth: a confusion table.

Each truth incident or fault names the alert condition it must raise and a window in which the alert
must be raised (event time). An incident is a hit when exactly one alert of the right condition for
the right resident falls in its window (an alert carrying it as a related condition counts: one
incident, one alert), doubled when more than one does, missed when none does. Every alert that no
truth item explains is a false alert; the ones on benign nights (no incident or fault that night)
give the rate per 100 resident-nights.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from simulators.truth import ResidentTruth, Window

# What each truth kind must raise; None = must raise nothing (a smoke alarm's test button).
EXPECTED: dict[str, str | None] = {
    "pendant_press": "personal_trigger",
    "fall": "fall",
    "smoke": "smoke",
    "smoke_test": None,
    "flood": "flood",
    "cold_flat": "temperature_low",
    "left_flat_at_night": "left_flat",
    "out_of_bed_too_long": "out_of_bed",
    "did_not_get_up": "not_up",
    "battery_decline": "battery_low",
    "device_offline": "device_offline",
    "hub_offline": "hub_offline",
    "tamper": "tamper",
}
# Timer rules, whose lateness against the due time the report gives.
TIMER_CONDITIONS = frozenset({"left_flat", "out_of_bed", "not_up"})
_GRACE = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class RaisedAlert:
    """One alert episode of the run, or one condition attached to another alert (`related_to`)."""

    episode: int
    alert_id: int
    resident_id: str
    condition: str
    raised_at: datetime
    detected_at: datetime
    due_at: datetime | None
    related_to: int | None = None
    # The device the alert (or this episode of it) is about, as `hub:friendly name`, if any.
    device: str | None = None
    # An out-of-bed timer's own extension limit, when the resident's recent nights gave it a longer one.
    own_limit: timedelta | None = None


@dataclass(frozen=True, slots=True)
class Expectation:
    """What one truth item requires."""

    resident_id: str
    kind: str
    condition: str | None
    window: tuple[datetime, datetime]
    observable: bool
    why_unobservable: str = ""
    # When the rule is due by its own definition, worked out from the truth alone (timer rules).
    due: datetime | None = None


def _night_of(moment: datetime, tz: ZoneInfo) -> date:
    """The evening date a moment's night belongs to (noon to noon)."""
    local = moment.astimezone(tz)
    return local.date() if local.time() >= time(12) else local.date() - timedelta(days=1)


@dataclass(frozen=True, slots=True)
class RuleTimes:
    """The rule settings the truth-derived due times need."""

    left_flat: timedelta = timedelta(minutes=30)
    out_of_bed: timedelta = timedelta(minutes=30)
    out_of_bed_max: timedelta = timedelta(minutes=60)
    up_by: dict[str, time] | None = None
    temperature_low_c: float = 12.0
    # Live runs judge silence from last_seen; replays only see the hubs' own offline reports.
    silence_watchdog: bool = False
    # Where the replayed data ends: an alarm that could only be due after it cannot be judged.
    data_end: datetime | None = None
    # The night window the night rules watch (docs/domain.md section 4: "front door opened in the night
    # window"); a "night" incident the simulator starts outside it is not one by that definition.
    night_window: tuple[time, time] | None = None


def _in_night_window(*, moment: datetime, tz: ZoneInfo, window: tuple[time, time]) -> bool:
    local = moment.astimezone(tz).time()
    start, end = window
    return start <= local < end if start < end else local >= start or local < end


def _muted(*, item: Window, faults: tuple[Window, ...]) -> bool:
    """Whether the sensor that sees the incident was silent (a device fault) when it began."""
    device = item.detail.get("device")
    return device is not None and any(
        fault.kind == "device_offline" and fault.detail.get("device") == device
        and fault.start <= item.start <= (fault.end or item.start)
        for fault in faults)


def expectation(*, resident_id: str, item: Window, device_silence: dict[str, timedelta],
                times: RuleTimes, tz: ZoneInfo, faults: tuple[Window, ...] = ()) -> Expectation:
    """The alert (and window) one truth incident or fault requires (`faults`: the resident's device faults)."""
    start = item.start
    end = item.end or start
    condition = EXPECTED[item.kind]
    detail = item.detail
    window = (start - _GRACE, end + timedelta(minutes=10))
    observable, why = True, ""
    due: datetime | None = None
    if item.kind == "left_flat_at_night":
        due = start + times.left_flat
    elif item.kind == "out_of_bed_too_long":
        # Up and about elsewhere the whole time: the timer runs to its cap.
        due = start + times.out_of_bed_max
    if item.kind == "cold_flat" and float(detail.get("coldest_c", 0.0)) >= times.temperature_low_c:
        observable, why = False, f"never colder than the {times.temperature_low_c} C alarm threshold"
    elif item.kind == "fall" and detail.get("device") is None:
        observable, why = False, "no sensor sees a fall outside the bathroom"
    elif item.kind == "did_not_get_up":
        window = (start - timedelta(hours=6), end)
        up_by = (times.up_by or {}).get(resident_id)
        if up_by is not None:
            due = datetime.combine(end.astimezone(tz).date(), up_by, tzinfo=tz)
    elif item.kind == "battery_decline":
        low_at = detail.get("battery_low_at")
        if low_at is None:
            observable, why = False, "battery never fell below the low mark"
        else:
            window = (datetime.fromisoformat(low_at) - _GRACE, end + timedelta(hours=1))
    elif item.kind == "device_offline":
        announced = detail.get("availability_offline_at")
        silence = device_silence.get(str(detail.get("device")), timedelta(hours=4))
        if times.silence_watchdog:
            # The alarm is due `silence` after the device was last heard, which is at most a heartbeat
            # before the fault began; a shorter outage is below the rule's threshold by design.
            if end - start < silence:
                observable, why = False, f"outage shorter than the {silence} silence threshold"
            window = (start - _GRACE, start + silence + timedelta(minutes=20))
        elif announced is None:
            observable, why = False, "replay sees no heartbeats; the hub never announced it offline"
        else:
            window = (datetime.fromisoformat(announced) - _GRACE, end + timedelta(minutes=10))
    elif item.kind == "hub_offline":
        window = (start - _GRACE, end + timedelta(minutes=20))
    if (item.kind in ("left_flat_at_night", "out_of_bed_too_long") and times.night_window is not None
            and not _in_night_window(moment=start, tz=tz, window=times.night_window)):
        night_start, night_end = times.night_window
        observable = False
        why = (f"began at {start.astimezone(tz):%H:%M}, outside the {night_start:%H:%M}-{night_end:%H:%M} "
               "night window the night rules watch")
    if observable and item.record == "incident" and _muted(item=item, faults=faults):
        observable, why = False, f"its sensor ({detail['device']}) was silent in a device fault"
    if observable and times.data_end is not None and window[0] > times.data_end:
        observable, why = False, "due after the end of the replayed data"
    return Expectation(resident_id, item.kind, condition, window, observable, why, due)


def _held(*, alert: RaisedAlert, resident: ResidentTruth, times: RuleTimes) -> bool:
    """Whether the truth's night records show the alert's condition really held when it was raised.

    Such an alert is still counted as false (no incident names it), but it is the rule saying something
    true, such as an hour of night wandering in a deterioration episode, not the rule being wrong.
    """
    at = alert.raised_at
    for night in resident.nights:
        if alert.condition == "out_of_bed" and any(
                exit_.start + times.out_of_bed <= at <= exit_.end for exit_ in night.bed_exits):
            return True
        if alert.condition == "left_flat" and any(out <= at <= back for out, back in night.door_exits):
            return True
        window_start = night.sleep_onset - timedelta(hours=12)
        if alert.condition == "not_in_bed" and window_start <= at < night.sleep_onset:
            return True
        if alert.condition == "not_up" and night.sleep_onset <= at < night.wake:
            return True
    return False


def _same_device(*, alert: RaisedAlert, item: Window) -> bool:
    """A device fault is explained only by an alert about that device (two batteries low are two faults)."""
    device = item.detail.get("device")
    if item.record != "device_fault" or device is None or alert.device is None:
        return True
    return bool(alert.device.split(":", 1)[-1] == device)


# The night worker's calls (bench.night_worker) that no incident record names: the care plan's own.
_CALL_CONDITIONS = {"not_in_bed": "not_in_bed", "out_of_bed": "out_of_bed",
                    "out_of_bed (up for the day early)": "out_of_bed", "left_flat": "left_flat"}


def evaluate(
    *, truth: dict[str, ResidentTruth], alerts: list[RaisedAlert], device_silence: dict[str, dict[str, timedelta]],
    times: RuleTimes, called: dict[str, dict[date, list[str]]] | None = None,
) -> dict[str, Any]:
    """The confusion table, misses, doubles, false alerts and timer lateness.

    `called`: per resident, the nights a night worker following the care plan was called and why
    (`bench.night_worker`). An alert no incident explains but such a call does is the care plan working,
    not a false alarm; a call no alert answered is reported as missed."""
    by_resident: dict[str, list[RaisedAlert]] = defaultdict(list)
    for alert in alerts:
        by_resident[alert.resident_id].append(alert)
    confusion: dict[str, Counter[str]] = defaultdict(Counter)
    outcome: dict[str, Counter[str]] = defaultdict(Counter)
    explained: set[int] = set()
    unobservable_reasons: Counter[str] = Counter()
    problems: list[dict[str, Any]] = []
    lateness_s: list[float] = []
    truth_lateness_s: list[float] = []
    incident_nights: set[tuple[str, date]] = set()
    called_for_alerts: list[RaisedAlert] = []
    resident_nights = 0
    for resident_id, resident in truth.items():
        tz = ZoneInfo(str(resident.header["timezone"]))
        resident_nights += len(resident.nights)
        for item in (*resident.incidents, *resident.faults):
            want = expectation(resident_id=resident_id, item=item,
                               device_silence=device_silence.get(resident_id, {}), times=times, tz=tz,
                               faults=resident.faults)
            first_night = _night_of(item.start, tz)
            last_night = _night_of(max(item.end or item.start, want.window[1]), tz)
            night = first_night
            while night <= last_night:
                incident_nights.add((resident_id, night))
                night += timedelta(days=1)
            in_window = [a for a in by_resident.get(resident_id, [])
                         if want.window[0] <= a.raised_at <= want.window[1]]
            right = [a for a in in_window if a.condition == want.condition
                     and _same_device(alert=a, item=item)]
            for alert in in_window:
                confusion[item.kind][alert.condition] += 1
                if alert in right:
                    explained.add(alert.episode)
            if not in_window:
                confusion[item.kind]["(none)"] += 1
            if want.condition is None:
                verdict = "correctly silent" if not in_window else "alerted"
            elif not want.observable:
                verdict = "unobservable, raised" if right else "unobservable, silent"
                unobservable_reasons[f"{item.kind}: {want.why_unobservable}"] += 1
            elif right and len({a.episode for a in right if a.related_to is None} or {0}) == 1:
                verdict = "hit"
                for alert in right:
                    if want.due is not None:
                        # Up and about the whole time: the timer runs to its cap, the timer's own if it had one.
                        due = item.start + alert.own_limit if alert.own_limit is not None else want.due
                        truth_lateness_s.append((alert.raised_at - due).total_seconds())
                    if alert.condition in TIMER_CONDITIONS and alert.due_at is not None:
                        lateness_s.append((alert.detected_at - alert.due_at).total_seconds())
            elif right:
                verdict = "doubled"
            else:
                verdict = "missed"
            outcome[item.kind][verdict] += 1
            if verdict in {"missed", "doubled", "alerted"}:
                problems.append({"resident": resident_id, "kind": item.kind, "verdict": verdict,
                                 "start": item.start.isoformat(),
                                 "alerts_in_window": [(a.condition, a.raised_at.isoformat()) for a in in_window]})
    answered: set[tuple[str, date, str]] = set()
    calls = {(resident_id, night, _CALL_CONDITIONS[why]) for resident_id, nights in (called or {}).items()
             for night, reasons in nights.items() for why in reasons if why in _CALL_CONDITIONS}
    for alert in alerts:
        known = truth.get(alert.resident_id)
        tz = ZoneInfo(str(known.header["timezone"])) if known else ZoneInfo("UTC")
        key = (alert.resident_id, _night_of(alert.raised_at, tz), alert.condition)
        if key in calls and alert.related_to is None:
            answered.add(key)
            if alert.episode not in explained:
                explained.add(alert.episode)
                called_for_alerts.append(alert)
    called_nights_set = {(resident_id, night) for resident_id, night, _ in calls}
    incident_nights |= called_nights_set
    false_alerts = [a for a in alerts if a.episode not in explained and a.related_to is None]
    benign_false = []
    for alert in false_alerts:
        known = truth.get(alert.resident_id)
        tz = ZoneInfo(str(known.header["timezone"])) if known else ZoneInfo("UTC")
        if (alert.resident_id, _night_of(alert.raised_at, tz)) not in incident_nights:
            benign_false.append(alert)
    benign_nights = resident_nights - len({n for n in incident_nights if n[0] in truth})
    held = {a.episode for a in false_alerts
            if a.resident_id in truth and _held(alert=a, resident=truth[a.resident_id], times=times)}
    benign_wrong = [a for a in benign_false if a.episode not in held]

    def deteriorating(alert: RaisedAlert) -> bool:
        resident = truth.get(alert.resident_id)
        if resident is None:
            return False
        day = _night_of(alert.raised_at, ZoneInfo(str(resident.header["timezone"])))
        return any(e.start.date() <= day <= (e.end or e.start).date() for e in resident.episodes)

    observable = sum(v for k, counts in outcome.items() for verdict, v in counts.items()
                     if verdict in {"hit", "missed", "doubled"})
    hits = sum(counts["hit"] for counts in outcome.values())
    return {
        "resident_nights": resident_nights,
        "benign_resident_nights": benign_nights,
        "truth_items": sum(sum(c.values()) for c in outcome.values()),
        "observable_incidents": observable,
        "hits": hits,
        "missed": sum(c["missed"] for c in outcome.values()),
        "doubled": sum(c["doubled"] for c in outcome.values()),
        "outcome_by_kind": {k: dict(v) for k, v in sorted(outcome.items())},
        # Why each unobservable item could not be judged, so none is quietly dropped.
        "unobservable_reasons": dict(sorted(unobservable_reasons.items())),
        "confusion_table": {k: dict(v) for k, v in sorted(confusion.items())},
        # The care plan's own calls (an hour up at 3 a.m., in bed hours after "in bed by"), from the truth's
        # behaviour; nights with one are not benign. Answered: an alert of that kind on that night.
        "care_plan_calls": len(calls),
        "care_plan_calls_answered": len(answered),
        "care_plan_calls_unanswered": sorted((r, n.isoformat(), c) for r, n, c in calls - answered)[:40],
        "alerts_answering_care_plan_calls_only": len(called_for_alerts),
        "false_alerts": len(false_alerts),
        "false_alerts_by_condition": dict(Counter(a.condition for a in false_alerts)),
        "false_alerts_on_benign_nights": len(benign_false),
        "false_alerts_per_100_benign_resident_nights": round(100 * len(benign_false) / max(1, benign_nights), 3),
        "false_alerts_per_100_resident_nights": round(100 * len(false_alerts) / max(1, resident_nights), 3),
        # Of the false alerts, those whose condition the truth's night records show really held (an hour
        # out of bed, a bedtime hours after the usual), split out, not hidden: no incident names them.
        "false_alerts_condition_held": len(held),
        "false_alerts_on_benign_nights_condition_not_held": len(benign_wrong),
        "false_alerts_condition_not_held_per_100_benign_resident_nights": round(
            100 * len(benign_wrong) / max(1, benign_nights), 3),
        "false_alerts_on_benign_nights_by_condition": dict(Counter(a.condition for a in benign_false)),
        # Late nights and lie-ins inside a simulated deterioration episode are real changes that no
        # incident record names; they are split out, not hidden.
        "false_alerts_during_deterioration_episodes": sum(1 for a in false_alerts if deteriorating(a)),
        # Detection against the timer's own due time (event time).
        "timer_lateness_s": {
            "count": len(lateness_s),
            "max": max(lateness_s, default=None),
            "within_5s": sum(1 for s in lateness_s if 0 <= s <= 5),
        },
        # Raised time against the due time worked out from the truth alone (door out + 30 min, ...):
        # negative means early. Catches a timer armed from the wrong event, not only a late tick.
        "timer_vs_truth_due_s": {
            "count": len(truth_lateness_s),
            "min": min(truth_lateness_s, default=None),
            "max": max(truth_lateness_s, default=None),
            "within_5s": sum(1 for s in truth_lateness_s if abs(s) <= 5),
            "within_60s": sum(1 for s in truth_lateness_s if abs(s) <= 60),
        },
        "problems": problems[:50],
        "false_alert_samples": [(a.resident_id, a.condition, a.raised_at.isoformat()) for a in false_alerts[:30]],
    }
