"""Inline SVG charts drawn in Python: readable in print and by colour-blind readers.

Okabe-Ito colours, and never colour alone: bars carry patterns or labels, the activity chart is a
single-hue ramp (light to dark) that survives greyscale printing.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Any

OKABE_ITO = {"orange": "#E69F00", "sky": "#56B4E9", "green": "#009E73", "yellow": "#F0E442",
             "blue": "#0072B2", "vermillion": "#D55E00", "purple": "#CC79A7", "black": "#000000"}
_FONT = 'font-family="Helvetica, Arial, sans-serif"'
_PATTERNS = (
    '<pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">'
    f'<rect width="6" height="6" fill="{OKABE_ITO["orange"]}"/><line x1="0" y1="0" x2="0" y2="6" '
    'stroke="#000" stroke-width="1.5"/></pattern>'
    '<pattern id="dots" width="5" height="5" patternUnits="userSpaceOnUse">'
    f'<rect width="5" height="5" fill="{OKABE_ITO["sky"]}"/><circle cx="2.5" cy="2.5" r="1" fill="#000"/></pattern>'
)


def _ramp(value: int, top: int) -> str:
    """A blue ramp, white for nothing; darker means more activity."""
    if value <= 0 or top <= 0:
        return "#ffffff"
    share = min(1.0, value / top) ** 0.6
    # From a pale blue to Okabe-Ito blue, then darker.
    light, dark = (222, 235, 247), (0, 60, 120)
    r, g, b = (round(light[i] + (dark[i] - light[i]) * share) for i in range(3))
    return f"#{r:02x}{g:02x}{b:02x}"


def activity_chart(*, activity: dict[str, Any], night_window: str, width: int = 900) -> str:
    """Days down, time of day across (30-minute cells), the night window shaded behind a dashed outline."""
    days: dict[str, list[int]] = activity["days"]
    labels = list(days)
    cell_h = 9 if len(labels) > 60 else 14
    # The right margin holds half of the centred "24:00" label, which would otherwise be cut off.
    left, top, right = 78, 26, 24
    cell_w = (width - left - right) / 48
    height = top + cell_h * len(labels) + 30
    peak = max((max(row) for row in days.values()), default=0)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" aria-label="Activity by day and time of day" {_FONT} font-size="10">',
           '<title>Activity by day (rows) and time of day (columns); darker = more sensor activity</title>']
    for hour in range(0, 25, 3):
        x = left + hour * 2 * cell_w
        out.append(f'<text x="{x:.1f}" y="{top - 8}" text-anchor="middle">{hour:02d}:00</text>')
        out.append(f'<line x1="{x:.1f}" y1="{top - 4}" x2="{x:.1f}" y2="{top + cell_h * len(labels)}" '
                   'stroke="#999" stroke-width="0.5"/>')
    step = max(1, len(labels) // 30)
    for row, day in enumerate(labels):
        y = top + row * cell_h
        if row % step == 0:
            out.append(f'<text x="{left - 6}" y="{y + cell_h - 2}" text-anchor="end">{escape(day)}</text>')
        for slot, value in enumerate(days[day]):
            if value:
                out.append(f'<rect x="{left + slot * cell_w:.1f}" y="{y}" width="{cell_w + 0.3:.1f}" '
                           f'height="{cell_h}" fill="{_ramp(value, peak)}"><title>{escape(day)} '
                           f'{slot // 2:02d}:{30 * (slot % 2):02d} {value} activations</title></rect>')
    start, _, end = night_window.partition("-")
    for moment in (start, end):
        hours, minutes = (int(part) for part in moment.split(":"))
        x = left + (hours * 60 + minutes) / 30 * cell_w
        out.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{top + cell_h * len(labels)}" '
                   f'stroke="{OKABE_ITO["vermillion"]}" stroke-width="1.5" stroke-dasharray="4 3"/>')
    y = top + cell_h * len(labels) + 18
    out.append(f'<text x="{left}" y="{y}">Lighter = less activity, darker = more (peak {peak} per half hour). '
               f'Dashed lines: night window {escape(night_window)}.</text>')
    out.append("</svg>")
    return "".join(out)


def nightly_bars(*, nights: Sequence[dict[str, Any]], width: int = 900) -> str:
    """Two stacked panels: bed exits per night (hatched orange) and minutes out of bed (dotted sky blue);
    unknown nights are marked with a grey '?' so a missing bar is never read as a quiet night."""
    panel_h, left, gap = 120, 50, 34
    height = 2 * panel_h + 2 * gap + 20
    count = max(1, len(nights))
    bar_w = (width - left - 10) / count
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" aria-label="Bed exits and minutes out of bed per night" {_FONT} '
           f'font-size="10"><defs>{_PATTERNS}</defs>']
    panels = (("bed_exits", "Bed exits per night", "url(#hatch)"),
              ("minutes_out_of_bed", "Minutes out of bed per night", "url(#dots)"))
    for index, (field, title, fill) in enumerate(panels):
        base_y = gap + index * (panel_h + gap) + panel_h
        values = [n.get(field) for n in nights]
        peak = max([v for v in values if v is not None] + [1])
        out.append(f'<text x="{left}" y="{base_y - panel_h - 8}" font-size="12" font-weight="bold">{title}</text>')
        out.append(f'<line x1="{left}" y1="{base_y}" x2="{width - 10}" y2="{base_y}" stroke="#000"/>')
        out.append(f'<text x="{left - 6}" y="{base_y - panel_h + 8}" text-anchor="end">{peak:g}</text>'
                   f'<text x="{left - 6}" y="{base_y}" text-anchor="end">0</text>')
        for slot, (night, value) in enumerate(zip(nights, values, strict=True)):
            x = left + slot * bar_w
            if night.get("status") != "ok" or value is None:
                out.append(f'<text x="{x + bar_w / 2:.1f}" y="{base_y - 3}" text-anchor="middle" fill="#666">?'
                           f'<title>{escape(str(night.get("night_of")))}: unknown (coverage)</title></text>')
                continue
            h = panel_h * float(value) / peak
            out.append(f'<rect x="{x + 0.5:.1f}" y="{base_y - h:.1f}" width="{max(1.0, bar_w - 1):.1f}" '
                       f'height="{h:.1f}" fill="{fill}" stroke="#000" stroke-width="0.4"><title>'
                       f'{escape(str(night.get("night_of")))}: {value:g}</title></rect>')
        step = max(1, count // 12)
        for slot in range(0, count, step):
            out.append(f'<text x="{left + slot * bar_w:.1f}" y="{base_y + 12}">'
                       f'{escape(str(nights[slot].get("night_of"))[5:])}</text>')
    out.append("</svg>")
    return "".join(out)


_SHAPES = {"emergency": ("vermillion", "triangle"), "environment": ("orange", "square"),
           "activity": ("blue", "circle"), "technical": ("black", "cross")}


def _marker(kind: str, x: float, y: float, colour: str) -> str:
    if kind == "triangle":
        return f'<path d="M{x:.1f},{y - 5:.1f} L{x + 5:.1f},{y + 4:.1f} L{x - 5:.1f},{y + 4:.1f} Z" fill="{colour}"/>'
    if kind == "square":
        return f'<rect x="{x - 4:.1f}" y="{y - 4:.1f}" width="8" height="8" fill="{colour}"/>'
    if kind == "cross":
        return (f'<path d="M{x - 4:.1f},{y - 4:.1f} L{x + 4:.1f},{y + 4:.1f} M{x + 4:.1f},{y - 4:.1f} '
                f'L{x - 4:.1f},{y + 4:.1f}" stroke="{colour}" stroke-width="2"/>')
    return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4.5" fill="{colour}"/>'


def alert_timeline(*, alerts: Sequence[dict[str, Any]], first: str, last: str, width: int = 900) -> str:
    """Alerts on a day axis, one lane per category, each with its own colour and shape (and a legend)."""
    from datetime import date, datetime  # noqa: PLC0415 - only the timeline needs date arithmetic

    start, end = date.fromisoformat(first), date.fromisoformat(last)
    days = max(1, (end - start).days + 1)
    left, lane_h = 100, 26
    lanes = list(_SHAPES)
    height = 30 + lane_h * len(lanes) + 40
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" aria-label="Alert timeline" {_FONT} font-size="10">']
    span = width - left - 10
    for index, lane in enumerate(lanes):
        colour, shape = _SHAPES[lane]
        y = 30 + index * lane_h
        out.append(f'<text x="{left - 8}" y="{y + 4}" text-anchor="end">{lane}</text>')
        out.append(f'<line x1="{left}" y1="{y}" x2="{width - 10}" y2="{y}" stroke="#ccc"/>')
        for alert in alerts:
            if (alert.get("category") or "technical") != lane:
                continue
            moment = datetime.fromisoformat(alert["raised_at"])
            offset = (moment.date() - start).days + (moment.hour * 60 + moment.minute) / 1440
            if 0 <= offset <= days + 1:
                out.append(_marker(shape, left + span * offset / days, y, OKABE_ITO[colour]))
    axis_y = 30 + lane_h * len(lanes)
    out.append(f'<text x="{left}" y="{axis_y + 4}">{escape(first)}</text>'
               f'<text x="{width - 10}" y="{axis_y + 4}" text-anchor="end">{escape(last)}</text>')
    legend_x = left
    for lane, (colour, shape) in _SHAPES.items():
        out.append(_marker(shape, legend_x + 5, axis_y + 24, OKABE_ITO[colour]))
        out.append(f'<text x="{legend_x + 14}" y="{axis_y + 28}">{lane}</text>')
        legend_x += 110
    out.append("</svg>")
    return "".join(out)
