"""Pydantic models at the HTTP boundary: what the API accepts and what it answers."""

from __future__ import annotations

import re
from datetime import date, datetime, time
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StrictBool,
    WithJsonSchema,
    model_validator,
)

from rules.habit_summary import HabitSummary
from rules.lifecycle import ActionCode, Outcome

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$"

# Free text may hold tabs and line breaks, nothing else below a space: NUL cannot be stored in PostgreSQL
# text at all (it was a 500), and the other controls (and DEL, and lone surrogates, which cannot be encoded)
# have no place in a note an operator reads at 3 a.m. Single-line fields (names) take no line breaks either.
_TEXT_CONTROLS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
_LINE_CONTROLS = re.compile("[\x00-\x08\x0a-\x1f\x7f\ud800-\udfff]")
TEXT_PATTERN = "^[^\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\u007f]*$"
LINE_PATTERN = "^[^\\u0000-\\u0008\\u000a-\\u001f\\u007f]*$"
# RFC 3339 with an offset, as the document's `date-time` says: no bare dates, epoch numbers or local times;
# years 2000-2099 (the service holds nothing outside them, and year 1 minus an offset overflows datetime).
_RFC3339 = re.compile(r"^20\d{2}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


# Surrounding blanks are trimmed only after the documented rules (lengths, patterns) have passed on the
# text as sent: trimming first made schema-valid input such as "abc " fail a minimum length.
def _refuse_text_controls(value: str) -> str:
    if _TEXT_CONTROLS.search(value):
        raise ValueError("control characters (other than tab and line breaks) are not allowed")
    return value.strip()


def _refuse_line_controls(value: str) -> str:
    if _LINE_CONTROLS.search(value):
        raise ValueError("control characters and line breaks are not allowed")
    return value.strip()


# A calendar day the service has data for: 2000-01-01 to 2099-12-31, as YYYY-MM-DD.
_DAY = re.compile(r"^20\d{2}-\d{2}-\d{2}$")


def _rfc3339_only(value: object) -> object:
    # Not a number of seconds, a bare date or a local time: the lax parser would take those silently.
    if not isinstance(value, str) or not _RFC3339.match(value):
        raise ValueError("give a date and time in 2000-2099 with a UTC offset, e.g. 2026-01-31T22:00:00Z")
    return value


def _whole_number(value: object) -> object:
    # JSON Schema's integer includes 3.0, but not "3" or true, which the lax parser would also take.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("give a whole number")
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError("give a whole number")
        return int(value)
    return value


def _day_only(value: object) -> object:
    if not isinstance(value, str) or not _DAY.match(value):
        raise ValueError("give a date as YYYY-MM-DD between 2000-01-01 and 2099-12-31")
    return value


Text = Annotated[str, AfterValidator(_refuse_text_controls), Field(json_schema_extra={"pattern": TEXT_PATTERN})]
Line = Annotated[str, AfterValidator(_refuse_line_controls), Field(json_schema_extra={"pattern": LINE_PATTERN})]
# A moment: RFC 3339 with an offset, as the document's `date-time` says.
Moment = Annotated[datetime, BeforeValidator(_rfc3339_only),
                   Field(json_schema_extra={"pattern": "^20[0-9]{2}-"})]
WholeNumber = Annotated[int, BeforeValidator(_whole_number)]
Day = Annotated[date, BeforeValidator(_day_only),
                Field(json_schema_extra={"pattern": "^20[0-9]{2}-[0-9]{2}-[0-9]{2}$"})]
# A night-window bound is a local wall-clock time (the resident's zone), so it carries no offset.
WallClock = Annotated[time, PlainSerializer(lambda value: value.strftime("%H:%M:%S"), return_type=str),
                      WithJsonSchema({"type": "string", "pattern": "^[0-2][0-9]:[0-5][0-9](:[0-5][0-9])?$",
                                      "description": "local wall-clock time in the resident's zone",
                                      "examples": ["22:00:00"]})]


class InputModel(BaseModel):
    """A request body: unknown fields are refused (422); free text is trimmed once its rules have passed."""

    model_config = ConfigDict(extra="forbid")


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class AlertOut(_Out):
    """One alert as the queue shows it."""

    alert_id: int = Field(description="Stable id of the alert.", examples=[4711])
    org_id: str = Field(description="Organisation (provider or scheme) the resident belongs to.",
                        examples=["riverside"])
    resident_id: str | None = Field(description="Pseudonymous resident id; null for a hub-level alarm.",
                                    examples=["r-0042"])
    resident_name: str | None = Field(description="Name to use on the phone.", examples=["Mrs Edna Price"])
    flat: str | None = Field(description="Flat or room.", examples=["Flat 12"])
    hub_id: str | None = Field(description="The home hub that reported it.", examples=["hub-0042"])
    device_id: str | None = Field(description="The device that raised it (hub:friendly_name).",
                                  examples=["hub-0042:pendant"])
    device_type: str | None = Field(description="Kind of device, e.g. personal_trigger, smoke, bed_pad.",
                                    examples=["personal_trigger"])
    condition: str = Field(
        description="What is wrong: pendant_press, fall, smoke, out_of_bed_too_long, hub_silent and so on.",
        examples=["fall"])
    status: Literal["raised", "claimed", "acknowledged", "closed"] = Field(
        description="Where it is in its life: raised, then claimed, acknowledged, closed.", examples=["raised"])
    priority: int = Field(description="1 is most urgent; rises with repeats and escalation.", examples=[1])
    base_priority: int = Field(description="The condition's own priority before any escalation.", examples=[2])
    repeat_count: int = Field(description="How many more times the same condition fired while open.", examples=[0])
    escalation_level: int = Field(description="How many times it escalated unacknowledged.", examples=[0])
    raised_at: datetime = Field(description="When the condition was first detected (device time).")
    queued_at: datetime = Field(description="When it entered (or re-entered) the queue; its age counts from here.")
    last_event_at: datetime = Field(description="The latest event that fed it.")
    cleared_at: datetime | None = Field(
        description="When the condition stopped being true (e.g. back in bed), if it has.")
    claimed_by: str | None = Field(description="User id of the operator handling it.")
    claimed_at: datetime | None = Field(description="When it was claimed.")
    acknowledged_by: str | None = Field(description="User id of the operator who answered it.")
    acknowledged_at: datetime | None = Field(description="When it was answered: the 60 s / 180 s KPI clock stops here.")
    escalated_at: datetime | None = Field(description="When it last escalated.")
    closed_by: str | None = Field(description="User id of the operator who closed it.")
    closed_at: datetime | None = Field(description="When it was closed.")
    outcome: str | None = Field(description="Outcome code at close, e.g. reassured, false_alarm, ambulance.")
    # What the operator needs before dialling: where the resident is and how a responder gets in.
    address: str | None = None
    access_notes: str | None = None


class AlertQueue(_Out):
    """The queue, and the history id to stream from so nothing between the two is missed."""

    alerts: list[AlertOut] = Field(description="Most urgent first, then oldest first.")
    stream_after: int = Field(
        description="Alert-history id of the same snapshot: stream from here (?after=) to miss nothing.",
        examples=[90210])


class HistoryEntry(_Out):
    """One step of an alert's life."""

    history_id: int = Field(description="Alert-history id; also the live stream's event id.", examples=[90211])
    at: datetime = Field(description="When the step was recorded.")
    event_time: datetime | None = Field(description="Device time of the event behind the step, when there is one.")
    action: str = Field(
        description="The step: raised, repeat, escalate, claim, release, acknowledge, an action code, close, reopen.",
        examples=["claim"])
    actor: str = Field(description="User id, or rules for the rules engine.", examples=["op-anna"])
    from_status: str | None = Field(description="Status before the step.", examples=["raised"])
    to_status: str | None = Field(description="Status after the step.", examples=["claimed"])
    detail: dict[str, Any] = Field(description="Step details (a note, an outcome, a reason).")


class AlertDetail(_Out):
    """An alert with its full history."""

    alert: AlertOut
    history: list[HistoryEntry]


class ActionIn(InputModel):
    """What the operator did."""

    action: ActionCode = Field(description="What was done: a call, a dispatch, an attendance or a note.",
                               examples=["called_resident"])
    note: Text = Field(default="", max_length=2000, description="What was said or done, for the record.")


class CloseIn(InputModel):
    """How the alert ended."""

    outcome: Outcome = Field(description="How the alert ended (the outcome codes of docs/rules.md).",
                             examples=["reassured"])
    note: Text = Field(default="", max_length=2000, description="What was said or done, for the record.")


class ReopenIn(InputModel):
    """Why a closed alert goes back in the queue."""

    reason: Text = Field(min_length=1, max_length=2000, description="Why the alert goes back in the queue.",
                         examples=["resident rang back: still feels dizzy"])


class ResidentSummary(_Out):
    """A resident in a list."""

    resident_id: str = Field(description="Pseudonymous resident id.", examples=["r-0042"])
    org_id: str = Field(description="The resident's organisation.", examples=["riverside"])
    display_name: str = Field(description="Name to use on the phone.", examples=["Mrs Edna Price"])
    flat: str | None = Field(description="Flat or room.", examples=["Flat 12"])
    timezone: str = Field(description="IANA time zone the night window is read in.", examples=["Europe/London"])
    night_start: WallClock
    night_end: WallClock
    open_alerts: int = Field(description="Alerts not yet closed.", examples=[1])
    address: str | None = None


class Contact(_Out):
    """Someone to call for the resident, in call order."""

    contact_id: int = Field(description="Stable id.", examples=[3])
    name: str = Field(description="Who to call.", examples=["Sam Carter"])
    relationship: str = Field(description="Who they are to the resident.", examples=["son"])
    phone: str = Field(description="Number to call.", examples=["+44 7700 900123"])
    call_order: int = Field(description="1 is called first.", examples=[1])
    keyholder: bool = Field(description="Holds a key to the flat.", examples=[True])


class ContactIn(InputModel):
    """A new contact."""

    name: Line = Field(min_length=1, max_length=200, examples=["Sam Carter"])
    relationship: Line = Field(default="", max_length=100, examples=["son"])
    phone: str = Field(pattern=r"^\+?[0-9][0-9 ()-]{3,29}[0-9]$", description="Digits, spaces, brackets and dashes.",
                       examples=["+44 7700 900123"])
    call_order: WholeNumber = Field(default=1, ge=1, le=99, description="1 is called first.")
    keyholder: StrictBool = Field(default=False, description="Holds a key to the flat.")


class Protocol(_Out):
    """What the control centre does for this resident."""

    protocol: str
    access_notes: str
    medical_notes: str
    updated_by: str | None = None
    updated_at: datetime | None = None


class ProtocolIn(InputModel):
    """A new response protocol."""

    protocol: Text = Field(default="", max_length=8000, description="What the control centre does, step by step.")
    access_notes: Text = Field(default="", max_length=4000, description="Key safe, door codes, pets.")
    medical_notes: Text = Field(default="", max_length=4000, description="What responders need to know.")


class AwayPeriod(_Out):
    """A planned absence: activity rules are held back, life-safety alarms are not."""

    away_id: int
    starts_at: datetime
    ends_at: datetime | None
    reason: str
    created_by: str
    created_at: datetime


class AwayIn(InputModel):
    """A new away period."""

    starts_at: Moment = Field(description="From when activity rules are held back (life-safety alarms never are).",
                              examples=["2026-03-01T10:00:00Z"])
    ends_at: Moment | None = Field(default=None, description="open-ended when absent",
                                   examples=["2026-03-08T18:00:00Z"])
    reason: Text = Field(default="", max_length=500, examples=["hospital stay"])

    @model_validator(mode="after")
    def _ordered(self) -> AwayIn:
        if self.starts_at.tzinfo is None or (self.ends_at is not None and self.ends_at.tzinfo is None):
            raise ValueError("times need a UTC offset")
        if self.ends_at is not None and self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        return self


class OpenCondition(_Out):
    """A condition currently true for the resident."""

    condition: str
    subject: str
    opened_at: datetime
    alert_id: int | None
    # A condition can outlive its alert (a pendant never "restores"): the console shows it as handled.
    alert_status: str | None = None


class DeviceOut(_Out):
    """One device's health."""

    device_id: str = Field(description="hub:friendly_name.", examples=["hub-0042:pendant"])
    hub_id: str = Field(description="The home hub.", examples=["hub-0042"])
    friendly_name: str = Field(description="The name the hub publishes it under.", examples=["pendant"])
    device_type: str = Field(description="Kind of device.", examples=["personal_trigger"])
    location: str = Field(description="Room.", examples=["bedroom"])
    model: str | None = Field(description="Manufacturer model, when known.")
    last_seen: datetime | None = Field(description="Last message from the device.")
    battery: int | None = Field(description="Battery percentage, when reported.", examples=[87])
    battery_low: bool | None = Field(description="The device says its battery is low.", examples=[False])
    availability: str | None = Field(description="online or offline, as the hub reports it.", examples=["online"])
    availability_at: datetime | None = Field(description="When availability last changed.")
    # "Battery" or "Mains (single phase)" as Zigbee2MQTT reports it: a mains device has no battery to show.
    power_source: str | None = None
    registered_at: datetime | None = None


class DeviceHealth(DeviceOut):
    """A device on the health board, with whose it is."""

    org_id: str
    resident_id: str | None
    resident_name: str | None
    hub_last_seen: datetime | None
    bridge_state: str | None


class EventOut(_Out):
    """One stored event."""

    time: datetime = Field(description="Device time of the event.")
    device_id: str = Field(description="The device.", examples=["hub-0042:hall"])
    device_type: str = Field(description="Kind of device.", examples=["pir"])
    location: str = Field(description="Room.", examples=["hallway"])
    kind: str = Field(description="What happened: motion, door_open, bed_exit, sos and so on.", examples=["motion"])
    is_restore: bool = Field(description="The end of a state (door closed, back in bed) rather than its start.",
                             examples=[False])
    value: float | None = Field(description="A reading (temperature in C, for instance), when the event carries one.")
    source: str = Field(description="How it arrived: z2m or canonical.", examples=["z2m"])


class ResidentDetail(_Out):
    """Everything an operator needs on the resident panel."""

    resident: ResidentSummary
    protocol: Protocol | None
    contacts: list[Contact]
    devices: list[DeviceOut]
    away_periods: list[AwayPeriod]
    open_conditions: list[OpenCondition]
    open_alerts: list[AlertOut]
    recent_events: list[EventOut]


class Organisation(_Out):
    """An organisation the user may see."""

    org_id: str = Field(description="Stable id.", examples=["riverside"])
    name: str = Field(description="Display name.", examples=["Riverside Supported Living"])
    timezone: str = Field(description="IANA time zone.", examples=["Europe/London"])
    residents: int = Field(description="Residents monitored.", examples=[12])
    open_alerts: int = Field(description="Alerts not yet closed.", examples=[2])


class UserOut(_Out):
    """A user and their scope."""

    user_id: str = Field(description="Sign-in name.", examples=["op-anna"])
    display_name: str = Field(description="Name shown to colleagues.", examples=["Anna (night desk)"])
    role: str = Field(description="operator, provider, reviewer or admin.", examples=["operator"])
    org_ids: list[str] = Field(description="Organisations the user serves or belongs to.")
    resident_ids: list[str] = Field(description="Reviewers: the residents assigned to them.")


class UserAdminView(UserOut):
    """A user as administrators see them."""

    created_at: datetime
    disabled_at: datetime | None


class FalseAlarmRate(_Out):
    """Closed alerts and how many were false alarms, for one device type."""

    closed: int
    false_alarms: int
    rate: float


class Kpis(_Out):
    """Control-centre KPIs over a period (docs/domain.md section 3)."""

    since: datetime
    until: datetime
    alerts: int
    acknowledged: int
    closed: int
    open: int
    ack_within_60s: float | None
    ack_within_180s: float | None
    ack_s_p50: float | None
    close_s_p50: float | None
    close_s_p90: float | None
    attendances: int
    attended_within_45min: float | None
    attended_within_60min: float | None
    outcomes: dict[str, int]
    false_alarm_rate_by_device_type: dict[str, FalseAlarmRate]


class AuditEntry(_Out):
    """One audit row."""

    audit_id: int = Field(description="Stable, increasing id.", examples=[1201])
    at: datetime = Field(description="When.")
    user_id: str = Field(description="Who (cli:NAME for the command line).", examples=["op-anna"])
    role: str = Field(description="Their role at the time.", examples=["operator"])
    action: str = Field(description="What, e.g. residents.get, alerts.close, users.scope.change.",
                        examples=["residents.get"])
    resource_type: str = Field(description="alert, resident, organisation or user.", examples=["resident"])
    resource_id: str | None = Field(description="Which one.", examples=["r-0042"])
    org_id: str | None
    resident_id: str | None
    outcome: str = Field(description="allowed, denied or failed.", examples=["allowed"])
    client: str | None = Field(description="Client address, or cli.", examples=["10.0.0.7"])
    detail: dict[str, Any] = Field(description="What else was recorded (counts, periods, the change made).")


class Health(_Out):
    """Liveness or readiness."""

    status: Literal["ok", "unavailable"] = Field(description="ok, or unavailable when a check fails.")
    checks: dict[str, bool] = Field(default_factory=dict, description="Each dependency and whether it answered.",
                                    examples=[{"database": True, "broker": True, "live_feed": True}])


class CarePlanVersion(_Out):
    """One saved version of a care plan: the whole plan, what changed, who changed it."""

    version: int
    plan: dict[str, Any]
    changes: dict[str, Any]
    changed_by: str
    source: str
    changed_at: datetime


class CarePlanOut(_Out):
    """The care plan in force and its history, newest first."""

    resident_id: str
    version: int | None
    plan: dict[str, Any]
    history: list[CarePlanVersion]


class HabitsOut(_Out):
    """What the rules have learnt of a resident's nights, and how sure they are."""

    resident_id: str
    habits: HabitSummary
