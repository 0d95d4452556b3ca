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
            ("Alerts", "alerts_total"), ("Median response (s)", "response_s_median"),
            ("p90 response (s)", "response_s_p90"))
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


def render_html(*, pack: dict[str, Any]) -> str:
    """The whole pack as HTML."""
    resident, period = pack["resident"], pack["period"]
    title = f"Night-time evidence: {resident['display_name']} ({resident['resident_id']})"
    flags = "".join(f'<div class="flag">{escape(f["explanation"])}</div>' for f in pack["routine_flags"]) or (
        '<p class="muted">No routine change against the resident\'s own baseline.</p>')
    triggers = "".join(
        f'<li class="{"met" if t["met"] else ""}">{"MET: " if t["met"] else ""}{escape(t["explanation"])}</li>'
        for t in pack["triggers"]) or "<li>No reactivation triggers configured.</li>"
    decisions = "".join(
        f"<tr><td>{_cell(d['decided_on'])}</td><td>{_cell(d['decision'])}</td><td>{_cell(d['criteria'])}</td>"
        f"<td>{_cell(d['reviewer'])}</td><td>{_cell(d['follow_up_on'])}</td></tr>" for d in pack["decisions"])
    costs = pack["costs"]
    cost_rows = "".join(f"<tr><td>{escape(model)}</td><td>{count}</td></tr>"
                        for model, count in costs["nights_by_model"].items())
    by_type = "".join(f"<tr><td>{escape(k)}</td><td>{v}</td></tr>" for k, v in pack["current"]["alerts_by_type"].items())
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
<h2>Summary against the previous period and the baseline</h2>{_comparison(pack)}
<h2>Routine changes against the resident's own recent nights</h2>{flags}
<h2>Reactivation triggers</h2><ul>{triggers}</ul>
<h2>Activity by day and time of day</h2><figure id="activity-chart">{activity_chart(activity=pack['activity'], night_window=resident['night_window'])}</figure>
<h2 class="page">Bed exits and time out of bed</h2><figure id="nightly-bars">{nightly_bars(nights=pack['nights'])}</figure>
<h2>Alert timeline</h2><figure id="alert-timeline">{alert_timeline(alerts=pack['alerts'], first=period['first_night'], last=period['last_night'])}</figure>
<table><tr><th>Alerts by type</th><th>Count</th></tr>{by_type}</table>
<table><tr><th>Hour</th>{''.join(f'<th>{h:02d}</th>' for h in range(24))}</tr><tr><td>Alerts</td>{by_hour}</tr></table>
<h2>Cost context</h2>
<table><tr><th>Support model</th><th>Nights</th></tr>{cost_rows}</table>
<p>Cost of this period: {costs['currency']} {costs['cost_of_period']:,.2f}. Had every night been a waking night
({costs['currency']} {costs['rates']['waking_night']:.2f}): {costs['if_all_waking_nights']:,.2f}; a sleep-in
({costs['currency']} {costs['rates']['sleep_in']:.2f}): {costs['if_all_sleep_ins']:,.2f}. Difference against waking nights:
{costs['saving_vs_waking_nights']:,.2f}.</p>
<h2>Decision record</h2>
<table><tr><th>Decided</th><th>Decision</th><th>Criteria</th><th>Reviewer</th><th>Follow-up</th></tr>{decisions or
'<tr><td colspan="5">No decision recorded yet.</td></tr>'}</table>
<h2 class="page">Nights</h2>
<table><tr><th>Night of</th><th>Status</th><th>Method</th><th>Coverage</th><th>Bed</th><th>Up</th><th>Exits</th>
<th>Min out of bed</th><th>Bathroom</th><th>Door exits</th><th>Alerts</th></tr>{nights_rows}</table>
</body></html>"""
