"""Pydantic answers of the resident panel's look back (kept apart from api.schemas: a separate resource)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

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
