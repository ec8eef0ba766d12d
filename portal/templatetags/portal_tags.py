"""Template filters for what people read: labels for internal codes and one form of dates.

``{% load portal_tags %}``, then ``{{ d.kind|label:"deadline_kind" }}``, ``{{ x.created_at|when }}``
("2 January 2027, 15:04 UTC" in the reader's zone, inside ``<time datetime="2027-01-02T15:04:00Z">``)
and ``{{ c.expires_at|day }}`` ("2 January 2027" inside ``<time datetime="2027-01-02">``). The
filters return safe markup, so they also work as ``{% blocktranslate with d=x|when %}`` arguments.
"""

from __future__ import annotations

import datetime as dt

from django import template
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.html import format_html
from django.utils.translation import pgettext

from portal import labels

register = template.Library()


@register.filter(name="label")
def label(code, kind: str) -> str:
    """The human label of an internal code of ``kind`` (see ``portal.labels``)."""
    return labels.label(kind, code)


@register.simple_tag
def colon() -> str:
    """The colon after a label, written as the reader's language writes it (French puts a
    non-breaking space before it): ``{% translate "Status" %}{% colon %} ...``."""
    return pgettext("punctuation", ":")


@register.filter(name="data_text")
def data_text(text) -> str:
    """A text read from data (a framework version's requirement title...) in the reader's language:
    ``portal.labels.data_text`` (the versions' own translations, else the catalogue)."""
    return labels.data_text(text) if isinstance(text, str) else text


def _parsed(value):
    """Dates arrive as objects, or as ISO 8601 text where a page shows a serialized record (verify)."""
    if isinstance(value, str):
        try:
            return parse_datetime(value) or parse_date(value)
        except ValueError:
            return None
    return value


@register.filter(name="when")
def when(value):
    """A moment as ``<time>`` in the reader's zone; a date falls back to ``day``; None renders nothing."""
    value = _parsed(value)
    if value is None:
        return ""
    if not isinstance(value, dt.datetime):
        return day(value)
    return format_html('<time datetime="{}">{}</time>', labels.iso_moment(value), labels.moment(value))


@register.filter(name="day")
def day(value):
    """A date (or the local date of a moment) as ``<time datetime="YYYY-MM-DD">``."""
    value = _parsed(value)
    if not isinstance(value, dt.date):
        return ""
    return format_html('<time datetime="{}">{}</time>', labels.iso_day(value), labels.day(value))
