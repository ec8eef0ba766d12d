"""Forms of the public tier check and of the staff framework-version pages
(DESIGN §2, §2.1). Choices and limits come from the framework version passed
in, never from code."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from certification.framework import texts, tiers
from portal.canonical import canonical_json
from portal.parsing import ParseError, load_json

# Thousands separators people type ("70,000,000,000", "7 000 000 000", "7_000_000_000").
_SEPARATORS = re.compile(r"[\s,_'\u00a0\u202f]")

YES, NO = "yes", "no"
MAX_RULES_BYTES = 2 * 1024 * 1024  # a version's rules are tens of kilobytes


def parse_parameter_count(text: str) -> int | None:
    """A parameter count as people type it ("7000000000", "7,000,000,000", "7 000 000 000"),
    or None when it is not a whole number; its range is the classifier's to check."""
    raw = _SEPARATORS.sub("", text)
    return int(raw) if raw and raw.isascii() and raw.isdigit() else None


class _UncheckedMultipleChoiceField(forms.MultipleChoiceField):
    """Checkboxes whose values the classifier checks, so an unknown value gets the
    classifier's error (naming the allowed values) instead of Django's generic one."""

    def valid_value(self, value: str) -> bool:
        return True


def _allowed(options: list[dict[str, Any]]) -> str:
    return ", ".join(f"{o['label']} ({o['id']})" for o in options)


class TierCheckForm(forms.Form):
    """'Which tier is my model?' (DESIGN §2.1). ``cleaned_data["classification"]``
    holds the tiers.Classification once the form is valid."""

    parameter_count = forms.CharField(
        label=_("Parameter count"),
        max_length=40,
        help_text=_("The total number of parameters, as a whole number, for example 7000000000 or 7,000,000,000."),
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "off", "spellcheck": "false"}),
    )
    capabilities = _UncheckedMultipleChoiceField(
        label=_("Capabilities"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Select every capability the model has."),
    )
    sensitive_domains = _UncheckedMultipleChoiceField(
        label=_("Sensitive domains"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Select every sensitive domain the model is trained on or intended for."),
    )
    emergent_capabilities = forms.ChoiceField(
        label=_("Has the model shown emergent capabilities?"),
        choices=[(NO, _("No")), (YES, _("Yes"))],
        initial=NO,
        widget=forms.RadioSelect,
        help_text=_("Capabilities that appeared without being trained for, found in testing or in use."),
    )
    emergent_description = forms.CharField(
        label=_("Describe the emergent capabilities"),
        required=False,
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_("Required when you answer yes above."),
    )
    emergent_description.required_when = _("required when you answer yes")  # the label of includes/fields.html

    def __init__(self, *args, rules: dict[str, Any], **kwargs):
        super().__init__(*args, **kwargs)
        self.rules = rules
        spec = rules["classification"]
        self.capability_options = list(spec["capabilities"])
        self.domain_options = list(spec["sensitive_domains"])
        self.fields["capabilities"].choices = [(c["id"], c["label"]) for c in self.capability_options]
        self.fields["sensitive_domains"].choices = [(d["id"], d["label"]) for d in self.domain_options]
        self.count_min = spec["parameter_count"]["min"]
        self.count_max = spec["parameter_count"]["max"]

    def _count_message(self) -> str:
        return _("Enter the parameter count as a whole number from %(min)s to %(max)s.") % {
            "min": f"{self.count_min:,}",
            "max": f"{self.count_max:,}",
        }

    def clean_parameter_count(self) -> int:
        count = parse_parameter_count(self.cleaned_data["parameter_count"])
        if count is None:
            raise forms.ValidationError(self._count_message(), code="invalid")
        # Range errors come from the classifier, like every other rule of the version.
        return count

    def _messages_for(self, field: str) -> str:
        """The translated message for a field the classifier refused, naming the allowed values."""
        if field == "parameter_count":
            return self._count_message()
        if field == "capabilities":
            return _("Choose only listed capabilities. Allowed values: %(allowed)s.") % {
                "allowed": _allowed(self.capability_options)
            }
        if field == "sensitive_domains":
            return _("Choose only listed sensitive domains. Allowed values: %(allowed)s.") % {
                "allowed": _allowed(self.domain_options)
            }
        if field == "emergent_capabilities":
            return _("Answer yes or no.")
        return _("Describe the emergent capabilities the model has shown: required when the answer is yes.")

    def clean(self) -> dict[str, Any]:
        """Run the version's classifier on what the fields let through, so every
        problem is reported at once; keep the fields' own errors where they have one."""
        data = super().clean()
        already = set(self.errors)
        inputs = {
            # A stand-in for a count the field refused: the other fields still get checked.
            "parameter_count": data.get("parameter_count", self.count_min),
            "capabilities": list(data.get("capabilities") or []),
            "sensitive_domains": list(data.get("sensitive_domains") or []),
            "emergent_capabilities": data.get("emergent_capabilities") == YES,
            "emergent_description": data.get("emergent_description") or "",
        }
        try:
            classification = tiers.classify(inputs, self.rules)
        except tiers.ClassificationError as exc:
            for field in exc.errors:
                if field in already:
                    continue
                self.add_error(field if field in self.fields else None, self._messages_for(field))
        else:
            if not self.errors:
                data["classification"] = classification
        return data


class FrameworkVersionCreateForm(forms.Form):
    version = forms.RegexField(
        label=_("Version id"),
        max_length=20,
        regex=r"^[0-9A-Za-z][0-9A-Za-z._-]*$",
        error_messages={"invalid": _("Use letters, digits, dots, dashes and underscores, for example 2026.1.")},
        help_text=_("For example 2026.1. The rules are copied from the latest published version."),
    )


class FrameworkRulesForm(forms.Form):
    """The rules as JSON. Only the syntax and hashability are checked here; the
    service checks that the rules classify and list requirements for every tier."""

    rules = forms.CharField(
        label=_("Rules (JSON)"),
        widget=forms.Textarea(attrs={"rows": 30, "spellcheck": "false", "class": "code"}),
        help_text=_("The whole rules document of this version, as one JSON object."),
    )

    def clean_rules(self) -> dict[str, Any]:
        text = self.cleaned_data["rules"]
        try:
            value = load_json(text, max_bytes=MAX_RULES_BYTES)
        except ParseError as exc:
            if exc.kind == ParseError.SYNTAX and exc.line is not None:
                message = _("This is not valid JSON: %(error)s (line %(line)d, column %(column)d).") % {
                    "error": exc.problem, "line": exc.line, "column": exc.column}
            else:
                message = str(exc)
            raise forms.ValidationError(message, code="invalid_json") from exc
        if not isinstance(value, dict):
            raise forms.ValidationError(_("The rules must be one JSON object ({...})."), code="not_object")
        try:
            # The digest is computed over RFC 8785 JSON at publication: refuse now
            # what could not be hashed then (e.g. integers beyond 2**53).
            canonical_json(value)
        except Exception as exc:  # rfc8785 raises its own error types
            raise forms.ValidationError(
                _("These rules cannot be serialized as canonical JSON: %(error)s") % {"error": exc},
                code="not_canonical",
            ) from exc
        return value


class FrameworkPublishForm(forms.Form):
    effective_date = forms.DateField(
        label=_("Effective date"),
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text=_(
            "The version is in force from 00:00 UTC on this date. An application binds to the "
            "version in force when it is created."
        ),
    )

    def clean_effective_date(self) -> dt.date:
        value = self.cleaned_data["effective_date"]
        if value < timezone.now().astimezone(dt.timezone.utc).date():
            # Applications created since then are bound to the version that was in
            # force: a past date would misstate which rules applied to them.
            raise forms.ValidationError(_("The effective date cannot be in the past."), code="past")
        return value

    @property
    def effective_from(self) -> dt.datetime:
        return dt.datetime.combine(self.cleaned_data["effective_date"], dt.time.min, tzinfo=dt.timezone.utc)


class FrameworkTextsForm(forms.Form):
    """A draft's texts in the other languages, one field per text and language, next to the English
    (``texts.texts_of``). An empty field leaves the text missing: it then shows from the catalogue or
    in English. ``translations()`` is what ``update_framework_translations`` takes."""

    def __init__(self, *args, rules: dict[str, Any], **kwargs):
        super().__init__(*args, **kwargs)
        self.languages = texts.translation_languages()
        self.texts = texts.texts_of(rules)
        for code, name in self.languages:
            own = texts.own_translations(rules, code)
            for text in self.texts:
                long = len(text.english) > 80
                widget = forms.Textarea(attrs={"rows": 3, "lang": code}) if long else forms.TextInput(
                    attrs={"lang": code})
                self.fields[self.field_name(code, text.path)] = forms.CharField(
                    label=name, required=False, max_length=5000, initial=own.get(text.path, ""), widget=widget)

    @staticmethod
    def field_name(language: str, path: str) -> str:
        return f"{language}:{path}"

    def rows(self) -> list[dict[str, Any]]:
        """The texts grouped as the version's page shows them: ``[{"title", "texts": [{"text", "fields"}]}]``."""
        groups: dict[str, dict[str, Any]] = {}
        for text in self.texts:
            group = groups.setdefault(text.group, {"title": _(texts.GROUPS[text.group]), "texts": []})
            group["texts"].append({"text": text, "fields": [self[self.field_name(code, text.path)]
                                                            for code, _name in self.languages]})
        return list(groups.values())

    def translations(self) -> dict[str, dict[str, str]]:
        return {code: {text.path: self.cleaned_data[self.field_name(code, text.path)] for text in self.texts}
                for code, _name in self.languages}
