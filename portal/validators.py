"""Validation of free text, in one place: single-line names, multi-line prose and web links.

``plain_text`` is for single-line text people read as a name (model, release, organization,
person, benchmark, finding title): no control characters (line breaks, tabs, NUL, escape
codes), no line or paragraph separators, no lone surrogates, and no bidirectional controls,
which can make "gnp.exe" display as "exe.png". Any script is welcome.

``prose_text`` is for multi-line text people write and read as prose (descriptions, reasons,
findings, responses): line breaks and tabs are welcome, other control characters are not, and
neither are the bidirectional embeddings, overrides and isolates that can make a paragraph read
differently from what it holds (the "Trojan Source" trick). The direction marks (LRM, RLM, ALM)
stay allowed: right-to-left prose needs them, and they cannot reorder what surrounds them.

``web_url`` is for links the portal shows as ``<a href>``: http or https only, never
``javascript:``, ``data:`` or ``ftp:``. Empty values pass (blank fields); ``required`` is the
field's business.

Both are plain functions raising Django's ``ValidationError``: they go in ``validators=[...]``
of model fields, form fields and DRF serializer fields alike (DRF turns a Django
ValidationError into a 400 under the field's name).
"""

from __future__ import annotations

import unicodedata

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.utils.translation import gettext as _

# Bidirectional embeddings, overrides and isolates, and the direction marks (Unicode TR 9).
BIDI_CONTROLS = frozenset({"\u200e", "\u200f", "\u061c", *map(chr, range(0x202A, 0x202F)),
                           *map(chr, range(0x2066, 0x206A))})
# Control characters, line and paragraph separators, surrogates.
_REFUSED_CATEGORIES = frozenset({"Cc", "Zl", "Zp", "Cs"})

# In prose: the controls that reorder text (embeddings, overrides, isolates), not the marks.
REORDERING_CONTROLS = BIDI_CONTROLS - {"\u200e", "\u200f", "\u061c"}
_PROSE_WHITESPACE = frozenset("\n\r\t")

_http_url = URLValidator(schemes=["http", "https"])


def text_problem(value: str) -> str | None:
    """Why ``value`` is not plain single-line text, or None."""
    for char in value:
        if char in BIDI_CONTROLS:
            return _("Remove the character that changes the direction of text (U+%(code)04X).") % {
                "code": ord(char)}
        if unicodedata.category(char) in _REFUSED_CATEGORIES:
            return _("Remove the control character (U+%(code)04X), such as a line break or a tab.") % {
                "code": ord(char)}
    return None


def plain_text(value) -> None:
    if not isinstance(value, str):
        return
    problem = text_problem(value)
    if problem:
        raise ValidationError(problem, code="plain_text")


def prose_problem(value: str) -> str | None:
    """Why ``value`` is not acceptable multi-line prose, or None."""
    for char in value:
        if char in REORDERING_CONTROLS:
            return _("Remove the character that changes the direction of text (U+%(code)04X).") % {
                "code": ord(char)}
        if char not in _PROSE_WHITESPACE and unicodedata.category(char) in _REFUSED_CATEGORIES:
            return _("Remove the control character (U+%(code)04X).") % {"code": ord(char)}
    return None


def prose_text(value) -> None:
    if not isinstance(value, str):
        return
    problem = prose_problem(value)
    if problem:
        raise ValidationError(problem, code="prose_text")


def web_url(value) -> None:
    if not isinstance(value, str) or value == "":
        return
    message = _("Enter a web address starting with http:// or https://.")
    if value != value.strip() or text_problem(value):
        raise ValidationError(message, code="web_url")
    try:
        _http_url(value)
    except ValidationError:
        raise ValidationError(message, code="web_url") from None
