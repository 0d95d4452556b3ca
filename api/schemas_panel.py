"""Pydantic answers of the resident panel's look back (kept apart from api.schemas: a separate resource)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from api.schemas import AlertOut


class PastAlert(AlertOut):
    """An alarm of the resident's recent past, with what the operator did about it."""

    actions: list[str] = Field(default_factory=list, description="action codes recorded, in order")
    close_note: str | None = Field(default=None, description="the operator's note when closing")


class ResidentHistory(BaseModel):
    """The resident panel's look back: recent alarms and their outcomes (nights: GET .../reports/.../nights)."""

    resident_id: str
    since: datetime
    alerts: list[PastAlert]


class PriorityRow(BaseModel):
    """One condition's priority for an organisation, with the default it replaces."""

    condition: str
    category: str
    priority: int = Field(description="1 is the most urgent")
    repeat_bump: int = Field(description="how much a repeat raises the priority (never above 1)")
    escalate_after_s: int = Field(description="an unclaimed alarm escalates after this long (0: never)")
    default_priority: int
    default_repeat_bump: int
    default_escalate_after_s: int
    overridden: bool = Field(description="whether the organisation has its own row")
    updated_by: str | None = None
    updated_at: datetime | None = None


class PriorityIn(BaseModel):
    """An organisation's own priority for one condition."""

    model_config = ConfigDict(extra="forbid")

    priority: int = Field(ge=1, le=9, description="1 is the most urgent")
    repeat_bump: int = Field(ge=0, le=8)
    escalate_after_s: int = Field(ge=0, le=86400, description="0: never escalate")
