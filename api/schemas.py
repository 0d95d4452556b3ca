"""Pydantic models at the HTTP boundary: what the API accepts and what it answers."""

from __future__ import annotations

from datetime import datetime, time
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from rules.lifecycle import ActionCode, Outcome

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$"


class _In(BaseModel):
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
    # What the operator needs before dialling: where the resident is and how a responder gets in.
    address: str | None = None
    access_notes: str | None = None


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


class ActionIn(_In):
    """What the operator did."""

    action: ActionCode
    note: str = Field(default="", max_length=2000)


class CloseIn(_In):
    """How the alert ended."""

    outcome: Outcome
    note: str = Field(default="", max_length=2000)


class ReopenIn(_In):
    """Why a closed alert goes back in the queue."""

    reason: str = Field(min_length=1, max_length=2000)


class ResidentSummary(_Out):
    """A resident in a list."""

    resident_id: str
    org_id: str
    display_name: str
    flat: str | None
    timezone: str
    night_start: time
    night_end: time
    open_alerts: int
    address: str | None = None


class Contact(_Out):
    """Someone to call for the resident, in call order."""

    contact_id: int
    name: str
    relationship: str
    phone: str
    call_order: int
    keyholder: bool


class ContactIn(_In):
    """A new contact."""

    name: str = Field(min_length=1, max_length=200)
    relationship: str = Field(default="", max_length=100)
    phone: str = Field(pattern=r"^\+?[0-9][0-9 ()-]{4,30}$")
    call_order: int = Field(default=1, ge=1, le=99)
    keyholder: bool = False


class Protocol(_Out):
    """What the control centre does for this resident."""

    protocol: str
    access_notes: str
    medical_notes: str
    updated_by: str | None = None
    updated_at: datetime | None = None


class ProtocolIn(_In):
    """A new response protocol."""

    protocol: str = Field(default="", max_length=8000)
    access_notes: str = Field(default="", max_length=4000)
    medical_notes: str = Field(default="", max_length=4000)


class AwayPeriod(_Out):
    """A planned absence: activity rules are held back, life-safety alarms are not."""

    away_id: int
    starts_at: datetime
    ends_at: datetime | None
    reason: str
    created_by: str
    created_at: datetime


class AwayIn(_In):
    """A new away period."""

    starts_at: datetime
    ends_at: datetime | None = None
    reason: str = Field(default="", max_length=500)

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
