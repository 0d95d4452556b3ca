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
    StrictBool,
    WithJsonSchema,
    model_validator,
)

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


def _refuse_text_controls(value: str) -> str:
    if _TEXT_CONTROLS.search(value):
        raise ValueError("control characters (other than tab and line breaks) are not allowed")
    return value


def _refuse_line_controls(value: str) -> str:
    if _LINE_CONTROLS.search(value):
        raise ValueError("control characters and line breaks are not allowed")
    return value


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
WallClock = Annotated[time, WithJsonSchema({"type": "string", "pattern": "^[0-2][0-9]:[0-5][0-9](:[0-5][0-9])?$",
                                            "description": "local wall-clock time in the resident's zone",
                                            "examples": ["22:00:00"]})]


class InputModel(BaseModel):
    """A request body: unknown fields are refused (422), surrounding blanks trimmed."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class AlertOut(_Out):
    """One alert as the queue shows it."""

    alert_id: int
    org_id: str
    resident_id: str | None
    resident_name: str | None
    flat: str | None
    hub_id: str | None
    device_id: str | None
    device_type: str | None
    condition: str
    status: Literal["raised", "claimed", "acknowledged", "closed"]
    priority: int
    base_priority: int
    repeat_count: int
    escalation_level: int
    raised_at: datetime
    queued_at: datetime
    last_event_at: datetime
    cleared_at: datetime | None
    claimed_by: str | None
    claimed_at: datetime | None
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    escalated_at: datetime | None
    closed_by: str | None
    closed_at: datetime | None
    outcome: str | None


class AlertQueue(_Out):
    """The queue, and the history id to stream from so nothing between the two is missed."""

    alerts: list[AlertOut]
    stream_after: int


class HistoryEntry(_Out):
    """One step of an alert's life."""

    history_id: int
    at: datetime
    event_time: datetime | None
    action: str
    actor: str
    from_status: str | None
    to_status: str | None
    detail: dict[str, Any]


class AlertDetail(_Out):
    """An alert with its full history."""

    alert: AlertOut
    history: list[HistoryEntry]


class ActionIn(InputModel):
    """What the operator did."""

    action: ActionCode
    note: Text = Field(default="", max_length=2000, description="What was said or done, for the record.")


class CloseIn(InputModel):
    """How the alert ended."""

    outcome: Outcome
    note: Text = Field(default="", max_length=2000, description="What was said or done, for the record.")


class ReopenIn(InputModel):
    """Why a closed alert goes back in the queue."""

    reason: Text = Field(min_length=1, max_length=2000, description="Why the alert goes back in the queue.",
                         examples=["resident rang back: still feels dizzy"])


class ResidentSummary(_Out):
    """A resident in a list."""

    resident_id: str
    org_id: str
    display_name: str
    flat: str | None
    timezone: str
    night_start: WallClock
    night_end: WallClock
    open_alerts: int


class Contact(_Out):
    """Someone to call for the resident, in call order."""

    contact_id: int
    name: str
    relationship: str
    phone: str
    call_order: int
    keyholder: bool


class ContactIn(InputModel):
    """A new contact."""

    name: Line = Field(min_length=1, max_length=200, examples=["Sam Carter"])
    relationship: Line = Field(default="", max_length=100, examples=["son"])
    phone: str = Field(pattern=r"^\+?[0-9][0-9 ()-]{4,30}$", examples=["+44 7700 900123"])
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

    starts_at: Moment = Field(examples=["2026-03-01T10:00:00Z"])
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


class DeviceOut(_Out):
    """One device's health."""

    device_id: str
    hub_id: str
    friendly_name: str
    device_type: str
    location: str
    model: str | None
    last_seen: datetime | None
    battery: int | None
    battery_low: bool | None
    availability: str | None
    availability_at: datetime | None


class DeviceHealth(DeviceOut):
    """A device on the health board, with whose it is."""

    org_id: str
    resident_id: str | None
    resident_name: str | None
    hub_last_seen: datetime | None
    bridge_state: str | None


class EventOut(_Out):
    """One stored event."""

    time: datetime
    device_id: str
    device_type: str
    location: str
    kind: str
    is_restore: bool
    value: float | None
    source: str


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

    org_id: str
    name: str
    timezone: str
    residents: int
    open_alerts: int


class UserOut(_Out):
    """A user and their scope."""

    user_id: str
    display_name: str
    role: str
    org_ids: list[str]
    resident_ids: list[str]


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
    """Control-centre KPIs over a period (DOMAIN.md section 3)."""

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

    audit_id: int
    at: datetime
    user_id: str
    role: str
    action: str
    resource_type: str
    resource_id: str | None
    org_id: str | None
    resident_id: str | None
    outcome: str
    client: str | None
    detail: dict[str, Any]


class Health(_Out):
    """Liveness or readiness."""

    status: Literal["ok", "unavailable"]
    checks: dict[str, bool] = Field(default_factory=dict)
