"""The report's SVG bar charts and the labels and number formats of its tables: print-readable
(dark fills that stay distinct in grey, a hatch for the second series, every value written
beside its bar), each with a text description and the table it is drawn from."""

from __future__ import annotations

from dataclasses import dataclass
from xml.sax.saxutils import escape

from django.utils import formats
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from certification.review.models import Finding, FindingResponse

# --- charts -----------------------------------------------------------------------------------------


TIER_LABELS = {"all": gettext_lazy("All tiers"), "1": gettext_lazy("Tier 1"), "2": gettext_lazy("Tier 2"),
               "3": gettext_lazy("Tier 3"), "4": gettext_lazy("Tier 4")}


OUTCOME_LABELS = {"accepted": gettext_lazy("Accepted"), "duplicate": gettext_lazy("Duplicate"),
                  "out_of_scope": gettext_lazy("Out of scope"), "invalid": gettext_lazy("Invalid"),
                  "awaiting_triage": gettext_lazy("Awaiting triage")}


RESPONSE_LABELS = {**dict(FindingResponse.Kind.choices), "no_response_yet": gettext_lazy("No response yet")}

# The incident table's severity column: every incident, and those nobody rated (issue 16 §2).
SEVERITY_LABELS = {"all": gettext_lazy("All severities"), "not_rated": gettext_lazy("Not rated")}


def label(column: str, value) -> str:
    """The human label of a table value (tier, category, severity, outcome, response)."""
    if column == "tier":
        return str(TIER_LABELS.get(str(value), value))
    if column == "category":
        return str(dict(Finding.Category.choices).get(value, value))
    if column == "severity":
        return str(SEVERITY_LABELS.get(value) or dict(Finding.Severity.choices).get(value, value))
    if column == "outcome":
        return str(OUTCOME_LABELS.get(value, value))
    if column == "response":
        return str(RESPONSE_LABELS.get(value, value))
    return str(value)


def percent(value: float | None) -> str:
    """66.7% in English, 66,7 % in French: the reader's decimal mark and the language's percent sign."""
    if value is None:
        return "–"
    return _("%(number)s%%") % {"number": formats.number_format(round(value * 100, 1), 1, use_l10n=True)}


def number(value) -> str:
    """A count as it is; a median or percentile with one decimal in the reader's format."""
    if value is None:
        return "–"
    if isinstance(value, float):
        return formats.number_format(round(value, 1), 1, use_l10n=True)
    return str(value)


@dataclass
class Series:
    name: str
    values: list  # numbers or None, one per category
    texts: list[str]  # how each value is written beside its bar


# Published reports are cached as rendered, under their snapshot's sha256 and this version: change it
# whenever the charts or the report's templates draw differently, or readers keep the old drawing.
RENDER_VERSION = 3

# Print-readable: dark fills that stay distinct in grey, a hatch for the second
# series, and every value written out beside its bar.
FILLS = ("#1d4f91", "url(#{id}-hatch)")
# Drawn for a phone's width: each category's label on its own line above its bars (a long one such as
# "Security / jailbreak / prompt injection" never shares the row with a bar), and room for a value such
# as "100.0% (3/3)" right of the longest bar. report.css never scales the chart above 1.25x nor text
# below 11 px on a 320 px screen: 14 px text in a 360-unit-wide drawing.
WIDTH, VALUE_W, LABEL_H, BAR_H, GAP, LEGEND_H = 360, 130, 20, 18, 12, 26
CHAR_W = 8.5  # an upper bound of a character's width at 14 px, for placing the legend's entries


def bar_chart(chart_id: str, title: str, description: str, categories: list[str], series: list[Series],
              max_value: float | None = None) -> str:
    """A horizontal bar chart as an accessible SVG string (``role="img"``, title and desc).

    One bar per category and series; the description is the text alternative, and
    the page puts the data table beside the chart."""
    numbers = [v for s in series for v in s.values if v is not None]
    top = max_value if max_value is not None else max(numbers + [0])
    top = top or 1
    group_h = LABEL_H + BAR_H * len(series) + GAP
    legend_h = LEGEND_H if len(series) > 1 else 0
    height = legend_h + group_h * len(categories) + GAP // 2
    plot_w = WIDTH - VALUE_W
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="{chart_id}" role="img" '
        f'viewBox="0 0 {WIDTH} {height}" width="100%" preserveAspectRatio="xMinYMin meet" '
        f'aria-labelledby="{chart_id}-title {chart_id}-desc">',
        f'<title id="{chart_id}-title">{escape(title)}</title>',
        f'<desc id="{chart_id}-desc">{escape(description)}</desc>',
        f'<defs><pattern id="{chart_id}-hatch" width="6" height="6" patternUnits="userSpaceOnUse" '
        'patternTransform="rotate(45)"><rect width="6" height="6" fill="#ffffff"/>'
        '<rect width="3" height="6" fill="#133a6d"/></pattern></defs>',
    ]
    if len(series) > 1:
        x = 0
        for i, s in enumerate(series):
            fill = FILLS[i % 2].format(id=chart_id)
            parts.append(f'<rect x="{x + 1}" y="4" width="14" height="14" fill="{fill}" stroke="#133a6d"/>')
            parts.append(f'<text x="{x + 20}" y="16" class="chart-legend">{escape(s.name)}</text>')
            x += 36 + CHAR_W * len(s.name)
    for ci, category in enumerate(categories):
        y0 = legend_h + ci * group_h
        parts.append(f'<text x="2" y="{y0 + LABEL_H - 5}" class="chart-label">{escape(category)}</text>')
        bars_y = y0 + LABEL_H
        parts.append(f'<line x1="0.5" y1="{bars_y}" x2="0.5" y2="{bars_y + BAR_H * len(series)}" stroke="#1b1f24"/>')
        for si, s in enumerate(series):
            value = s.values[ci]
            y = bars_y + si * BAR_H
            w = 0 if value is None else max(0.0, min(1.0, value / top)) * plot_w
            if w:
                parts.append(f'<rect x="1" y="{y + 1}" width="{w:.1f}" height="{BAR_H - 2}" '
                             f'fill="{FILLS[si % 2].format(id=chart_id)}" stroke="#133a6d"/>')
            parts.append(f'<text x="{w + 6:.1f}" y="{y + BAR_H - 4}" class="chart-value">'
                         f'{escape(s.texts[ci])}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _describe(categories: list[str], series: list[Series]) -> str:
    items = []
    for ci, category in enumerate(categories):
        values = ", ".join(f"{s.name} {s.texts[ci]}" if len(series) > 1 else s.texts[ci] for s in series)
        items.append(f"{category}: {values}")
    return "; ".join(items) + "."


def _chart(chart_id, title, rows, key, series_specs, max_value=None) -> str:
    categories = [label(key, r[key]) for r in rows]
    series = [Series(name, [r[col] for r in rows], [fmt(r) for r in rows]) for name, col, fmt in series_specs]
    return bar_chart(chart_id, title, _describe(categories, series), categories, series, max_value)


def charts(data: dict) -> dict[str, str]:
    """Every chart of the report, as SVG strings, from the report data (draft or snapshot)."""
    t = {name: table["rows"] for name, table in data["tables"].items()}
    year = data["year"]
    tiers_only = [r for r in t["certificates"] if r["tier"] != "all"]
    out = {
        "adoption": _chart("chart-adoption", _("Adoption among member organizations, %(year)s") % {"year": year},
                           t["adoption"], "tier",
                           [(_("Share"), "share", lambda r: f"{percent(r['share'])} "
                             f"({r['organizations_certified']}/{r['member_organizations']})")], max_value=1),
        "certificates": _chart(
            "chart-certificates", _("Certificate events, %(year)s") % {"year": year},
            [{"event": str(name), "n": t["certificates"][0][col]} for col, name in (
                ("issued", _("Issued")), ("suspended", _("Suspended")), ("revoked", _("Revoked")),
                ("expired", _("Expired")))],
            "event", [(_("Certificates"), "n", lambda r: str(r["n"]))]),
        "releases": _chart("chart-releases", _("Releases certified by tier, %(year)s") % {"year": year},
                           tiers_only, "tier", [(_("Releases"), "releases_certified",
                                                 lambda r: str(r["releases_certified"]))]),
        "time_to_decision": _chart(
            "chart-decision", _("Days from first submission to decision, %(year)s") % {"year": year},
            t["time_to_decision"], "tier",
            [(_("Median"), "median_days", lambda r: number(r["median_days"])),
             (_("90th percentile"), "p90_days", lambda r: number(r["p90_days"]))]),
        "time_to_decision_excl": _chart(
            "chart-decision-excl",
            _("Days from first submission to decision, excluding changes requested, %(year)s") % {"year": year},
            t["time_to_decision"], "tier",
            [(_("Median"), "median_days_excluding_changes_requested",
              lambda r: number(r["median_days_excluding_changes_requested"])),
             (_("90th percentile"), "p90_days_excluding_changes_requested",
              lambda r: number(r["p90_days_excluding_changes_requested"]))]),
        "audits": _chart("chart-audits", _("Audit reports filed on time, %(year)s") % {"year": year},
                         t["audits"], "tier",
                         [(_("On time"), "on_time_share",
                           lambda r: f"{percent(r['on_time_share'])} ({r['on_time']}/{r['performed']})")],
                         max_value=1),
        "findings_by_category": _chart(
            "chart-findings-category", _("Community findings by category, %(year)s") % {"year": year},
            t["findings_by_category"], "category",
            [(_("Submitted"), "submitted", lambda r: str(r["submitted"])),
             (_("Accepted"), "accepted", lambda r: str(r["accepted"]))]),
        "findings_by_severity": _chart(
            "chart-findings-severity", _("Community findings by severity, %(year)s") % {"year": year},
            t["findings_by_severity"], "severity",
            [(_("Submitted"), "submitted", lambda r: str(r["submitted"])),
             (_("Accepted"), "accepted", lambda r: str(r["accepted"]))]),
        "responses": _chart("chart-responses", _("Responses to accepted findings, %(year)s") % {"year": year},
                            t["responses"], "response",
                            [(_("Share"), "share", lambda r: f"{percent(r['share'])} ({r['findings']})")],
                            max_value=1),
        "response_timeliness": _chart(
            "chart-response-timeliness", _("Responses filed on time, %(year)s") % {"year": year},
            t["response_timeliness"], "tier",
            [(_("On time"), "on_time_share", lambda r: f"{percent(r['on_time_share'])} ({r['on_time']}/{r['due']})")],
            max_value=1),
    }
    if "incidents" in t:  # snapshots published before incidents were counted have no such table
        out["incidents"] = _chart(
            "chart-incidents", _("Post-release incidents by severity, %(year)s") % {"year": year},
            t["incidents"], "severity",
            [(_("Received"), "received", lambda r: str(r["received"])),
             (_("Resolved"), "resolved", lambda r: str(r["resolved"]))])
        out["incident_days"] = _chart(
            "chart-incident-days", _("Median days to acknowledge and to resolve an incident, %(year)s") % {
                "year": year},
            t["incidents"], "severity",
            [(_("To acknowledge"), "median_days_to_acknowledge", lambda r: number(r["median_days_to_acknowledge"])),
             (_("To resolve"), "median_days_to_resolve", lambda r: number(r["median_days_to_resolve"]))])
    return out
