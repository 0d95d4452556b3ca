"""The evidence pack as one self-contained HTML page (inline SVG, print stylesheet)."""

from __future__ import annotations

from html import escape
from typing import Any

from models.render.svg import activity_chart, alert_timeline, nightly_bars

_CSS = """
body{font-family:Helvetica,Arial,sans-serif;color:#111;margin:24px;max-width:960px}
/* Charts are drawn 900 wide; on an A4 page (about 720 px between margins) they scale down whole. */
svg{max-width:100%;height:auto}
h1{font-size:22px;margin:0 0 4px} h2{font-size:16px;margin:22px 0 6px;border-bottom:1px solid #444}
table{border-collapse:collapse;font-size:12px;margin:6px 0} td,th{border:1px solid #888;padding:3px 6px;text-align:right}
th:first-child,td:first-child{text-align:left} .flag{background:#fff4d6;border-left:4px solid #E69F00;padding:4px 8px;margin:4px 0}
.met{font-weight:bold} .muted{color:#555;font-size:12px} figure{margin:6px 0;page-break-inside:avoid}
@media print{body{margin:0} h2{page-break-after:avoid} .page{page-break-before:always}}
"""


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:g}"
    return escape(str(value))


def _comparison(pack: dict[str, Any]) -> str:
    rows = (("Nights in period", "nights"), ("Nights monitored", "nights_monitored"),
            ("Nights unknown (too little sensor coverage)", "nights_unknown"),
            ("% nights with any alert", "pct_nights_any_alert"),
            ("% nights with an intervention (someone attended)", "pct_nights_intervention"),
            ("Alerts at night", "alerts_total"),
            ("Median response, raised to first action (s)", "response_s_median"),
            ("p90 response, raised to first action (s)", "response_s_p90"))
    head = ("<tr><th></th><th>This period</th><th>Previous period</th><th>Baseline</th></tr>")
    body = "".join(f"<tr><td>{label}</td>" + "".join(f"<td>{_cell(pack[p][key])}</td>"
                                                      for p in ("current", "previous", "baseline")) + "</tr>"
                   for label, key in rows)
    features = (("Minutes out of bed (median)", "minutes_out_of_bed"), ("Bed exits (median)", "bed_exits"),
                ("Time in bed, min (median)", "time_in_bed_min"), ("Night bathroom visits (median)", "bathroom_visits"),
                ("Minutes out of the flat (median)", "minutes_out"))
    body += "".join(f"<tr><td>{label}</td>" + "".join(
        f"<td>{_cell(pack[p]['features'][key]['median'])}</td>" for p in ("current", "previous", "baseline"))
        + "</tr>" for label, key in features)
    body += "<tr><td>Bedtime spread, SD min (regularity)</td>" + "".join(
        f"<td>{_cell(pack[p]['sleep_regularity']['onset_sd_min'])}</td>" for p in ("current", "previous", "baseline")
    ) + "</tr>"
    return f"<table>{head}{body}</table>"


_MODEL_WORDS = {"waking_night": "a waking night", "sleep_in": "a sleep-in", "telecare_only": "telecare only",
                "not_recorded": "no support recorded"}


def _costs(costs: dict[str, Any]) -> str:
    """The cost context in sentences: which support each night had and what that came to."""
    money = costs["currency"] + " {:,.2f}"
    parts = []
    for model, count in costs["nights_by_model"].items():
        words = _MODEL_WORDS.get(model, model.replace("_", " "))
        parts.append(f"{count} night{'s' if count != 1 else ''} with {words}")
    text = "In this period: " + ", ".join(parts) + ". "
    if set(costs["nights_by_model"]) == {"not_recorded"}:
        return (f"<p>{escape(text)}No support model is recorded for this resident, so the cost of the period "
                "cannot be shown. For comparison, "
                f"a waking night costs {money.format(costs['rates']['waking_night'])} and a sleep-in "
                f"{money.format(costs['rates']['sleep_in'])}.</p>")
    return (f"<p>{escape(text)}The support given cost {money.format(costs['cost_of_period'])}. Had every night been "
            f"a waking night ({money.format(costs['rates']['waking_night'])} each) it would have cost "
            f"{money.format(costs['if_all_waking_nights'])}; had every night been a sleep-in "
            f"({money.format(costs['rates']['sleep_in'])} each), {money.format(costs['if_all_sleep_ins'])}.</p>")


def _changes(pack: dict[str, Any]) -> str:
    """Episodes from the detector over the whole period, then the median/MAD flags over the same nights."""
    detection = pack["change_detection"]
    if detection["status"] == "not_enough_data":
        out = ('<p class="muted">Change detection: not enough history yet to learn this resident\'s usual days '
               "(a guess would be worse than saying so).</p>")
    elif detection["episodes"]:
        out = "".join(f'<div class="flag"><b>Change of routine from {escape(e["start"])} to {escape(e["end"])}</b> '
                      f'({e["days_flagged"]} days flagged): {escape(e["what_changed"])}</div>'
                      for e in detection["episodes"])
    else:
        out = '<p class="muted">Change detection found no change of routine in this period.</p>'
    flags = "".join(f'<div class="flag">{escape(f["explanation"])}</div>' for f in pack["routine_flags"])
    return out + (f"<p>Each night of the period against the resident's own nights before it:</p>{flags}" if flags
                  else '<p class="muted">No single measure differs from the resident\'s own nights before the '
                       "period on enough nights to flag.</p>")


def _suggestions(pack: dict[str, Any]) -> str:
    """Each suggestion with the reviewer's answer (or that it is still waiting for one)."""
    items = []
    for s in pack["suggestions"]:
        answer = ("waiting for a reviewer" if s["status"] == "open" else
                  f"{s['status']} by {s['reviewed_by']}" + (f": {s['review_note']}" if s["review_note"] else ""))
        items.append(f"<li>{escape(s['since'])} to {escape(s['last_day'])}: {escape(s['explanation'])} "
                     f"<i>({escape(answer)})</i></li>")
    return "".join(items) or "<li>None raised.</li>"


def render_html(*, pack: dict[str, Any]) -> str:
    """The whole pack as HTML."""
    resident, period = pack["resident"], pack["period"]
    title = f"Night-time evidence: {resident['display_name']} ({resident['resident_id']})"
    counts = pack["alert_counts"]
    summary = "".join(f"<li>{escape(line)}</li>" for line in pack["summary"])
    triggers = "".join(
        f'<li class="{"met" if t["met"] else ""}">{"MET: " if t["met"] else ""}{escape(t["explanation"])}</li>'
        for t in pack["triggers"]) or "<li>No reactivation triggers configured.</li>"
    decisions = "".join(
        f"<tr><td>{_cell(d['decided_on'])}</td><td>{_cell(d['decision'])}</td><td>{_cell(d['criteria'])}</td>"
        f"<td>{_cell(d['reviewer'])}</td><td>{_cell(d['follow_up_on'])}</td></tr>" for d in pack["decisions"])
    by_type = "".join(f"<tr><td>{escape(k.replace('_', ' '))}</td><td>{v}</td></tr>"
                      for k, v in counts["by_type"].items())
    by_hour = "".join(f"<td>{pack['alerts_by_hour'][h]}</td>" for h in range(24))
    nights_rows = "".join(
        f"<tr><td>{n['night_of']}</td><td>{n['status']}</td><td>{n['method']}</td><td>{n['coverage']:.0%}</td>"
        f"<td>{_cell(n['local_onset'])}</td><td>{_cell(n['local_wake'])}</td><td>{_cell(n['bed_exits'])}</td>"
        f"<td>{_cell(n['minutes_out_of_bed'])}</td><td>{_cell(n['bathroom_visits'])}</td>"
        f"<td>{_cell(n['door_exits'])}</td><td>{n['alerts_total']}</td></tr>" for n in pack["nights"])
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>
<style>{_CSS}</style></head><body>
<h1>{escape(title)}</h1>
<p class="muted">Nights {period['first_night']} to {period['last_night']} ({period['nights']} nights); night window
{escape(resident['night_window'])} {escape(resident['timezone'])}. Previous period {pack['previous_period']['first_night']} to
{pack['previous_period']['last_night']}; baseline {pack['baseline_period']['first_night']} to
{pack['baseline_period']['last_night']}. Generated {escape(pack['generated_at'])}. Evidence for a human review, not a decision.</p>
<h2>In short</h2><ul id="summary">{summary}</ul>
<p id="review-question" class="flag">{escape(pack['review_question'])}</p>
<h2>Against the previous period and the baseline</h2>{_comparison(pack)}
<h2>Changes of routine over the whole period</h2>{_changes(pack)}
<h2>Review suggestions from change detection</h2><ul>{_suggestions(pack)}</ul>
<h2>Reactivation triggers</h2><ul>{triggers}</ul>
<h2>Activity by day and time of day</h2><figure id="activity-chart">{activity_chart(activity=pack['activity'], night_window=resident['night_window'])}</figure>
<h2 class="page">Bed exits and time out of bed</h2><figure id="nightly-bars">{nightly_bars(nights=pack['nights'])}</figure>
<h2>Alert timeline</h2><figure id="alert-timeline">{alert_timeline(alerts=[a for a in pack['alerts'] if a['counted']], first=period['first_night'], last=period['last_night'])}</figure>
<p id="alert-counts">{counts['total']} alert{'' if counts['total'] == 1 else 's'} in the period: {counts['at_night']} at night and {counts['by_day']} by day
(the timeline, the tables below and the summary all count these). Not counted as alerts: {counts['technical']} technical
(device or battery) and {counts['care_reviews']} care-review notices. {counts['unanswered']} alert(s) had no recorded action.</p>
<table><tr><th>Alerts by type</th><th>Count</th></tr>{by_type}</table>
<table><tr><th>Hour</th>{''.join(f'<th>{h:02d}</th>' for h in range(24))}</tr><tr><td>Alerts</td>{by_hour}</tr></table>
<h2>Cost context</h2>{_costs(pack['costs'])}
<h2>Decision record</h2>
<table><tr><th>Decided</th><th>Decision</th><th>Criteria</th><th>Reviewer</th><th>Follow-up</th></tr>{decisions or
'<tr><td colspan="5">No decision recorded yet.</td></tr>'}</table>
<h2 class="page">Nights</h2>
<table><tr><th>Night of</th><th>Status</th><th>Method</th><th>Coverage</th><th>Bed</th><th>Up</th><th>Exits</th>
<th>Min out of bed</th><th>Bathroom</th><th>Door exits</th><th>Alerts</th></tr>{nights_rows}</table>
</body></html>"""
