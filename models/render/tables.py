"""The pack's nights as CSV: one row per night, the columns a spreadsheet user expects."""

from __future__ import annotations

import csv
import io
from typing import Any

COLUMNS = ("night_of", "status", "unknown_reason", "method", "coverage", "local_onset", "local_wake", "sleep_onset",
           "wake", "time_in_bed_min", "bed_exits", "minutes_out_of_bed", "bathroom_visits", "door_exits",
           "minutes_out", "alerts_total", "responses", "median_response_s", "attendances")


def render_csv(*, pack: dict[str, Any]) -> str:
    """Nights of the period as CSV text."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for night in pack["nights"]:
        writer.writerow({key: ("" if night.get(key) is None else night.get(key)) for key in COLUMNS})
    return buffer.getvalue()


def render_scheme_csv(*, rows: list[dict[str, Any]]) -> str:
    """The scheme view as CSV text."""
    buffer = io.StringIO()
    columns = ("resident_id", "display_name", "flat", "status", "nights_monitored", "pct_nights_any_alert",
               "pct_nights_intervention", "last_decision", "follow_up_on", "reasons")
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({**row, "reasons": "; ".join(row["reasons"])})
    return buffer.getvalue()
