"""Event times from devices: parsing `last_seen` / canonical `time`, and the guard against bad clocks."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from ingest.messages import DeadLetterReason, Rejected

_ISO_DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")
_EPOCH_MS_MIN = 10**12  # 2001-09-09: smaller numbers are seconds or nonsense


def parse_device_time(*, raw: object, field_name: str) -> datetime:
    """An aware UTC datetime from ISO 8601 (with offset) or epoch milliseconds."""
    if isinstance(raw, bool):
        raise Rejected(DeadLetterReason.INVALID_PAYLOAD, f"{field_name} must be ISO 8601 or epoch ms")
    if isinstance(raw, int | float):
        if not _EPOCH_MS_MIN <= raw < 10**14:  # also refuses NaN
            raise Rejected(DeadLetterReason.TIMESTAMP_OUT_OF_RANGE, f"{field_name} {raw!r} is not epoch ms")
        return datetime.fromtimestamp(raw / 1000, tz=UTC)
    if isinstance(raw, str) and 10 <= len(raw) <= 40:
        if not _ISO_DATE_TIME.match(raw):
            # Python's ISO parser also takes compact forms; the contract wants the extended form only,
            # so epoch milliseconds sent as a string are refused rather than misread.
            raise Rejected(DeadLetterReason.INVALID_PAYLOAD, f"{field_name} {raw!r} is not ISO 8601 date and time")
        try:
            parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError as exc:
            raise Rejected(DeadLetterReason.INVALID_PAYLOAD, f"{field_name} {raw!r} is not ISO 8601") from exc
        if parsed.tzinfo is None:
            raise Rejected(DeadLetterReason.INVALID_PAYLOAD, f"{field_name} {raw!r} has no UTC offset")
        return parsed.astimezone(UTC)
    raise Rejected(DeadLetterReason.INVALID_PAYLOAD, f"{field_name} must be ISO 8601 or epoch ms")


def check_event_time(
    *, event_time: datetime, received_at: datetime, future_skew: timedelta, max_age: timedelta
) -> bool:
    """Validate a device's event time; returns True when it is too far ahead (a wrong device clock).

    Too old is rejected outright (a stale replay); too far ahead is left to the caller, which keeps
    alarms at arrival time rather than lose them to a bad clock.
    """
    if event_time < received_at - max_age:
        raise Rejected(
            DeadLetterReason.TIMESTAMP_OUT_OF_RANGE,
            f"event time {event_time.isoformat()} is more than {max_age} before arrival",
        )
    return event_time > received_at + future_skew
