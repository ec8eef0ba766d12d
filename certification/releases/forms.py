"""Forms of the organization and staff flows. Rules come from the framework
version (choices, labels); the services check them again."""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.db import models
from django.utils.translation import gettext_lazy as _

from certification.framework import texts
from certification.framework.forms import parse_parameter_count
from certification.framework.models import Benchmark
from certification.releases.models import AIModel, BenchmarkResult, EvidenceFile, Upstream
from portal.validators import plain_text, web_url

MODALITIES = [("text", _("Text")), ("image", _("Image")), ("audio", _("Audio")), ("video", _("Video")),
              ("code", _("Code")), ("other", _("Other"))]


class AIModelForm(forms.ModelForm):
    modalities = forms.MultipleChoiceField(
        label=_("Modalities"), choices=MODALITIES, widget=forms.CheckboxSelectMultiple, required=False
    )

    class Meta:
        model = AIModel
        fields = ["name", "slug", "description", "modalities", "hub_repo_id"]
        help_texts = {"slug": _("Lowercase letters, digits and hyphens, unique within your organization.")}

    def clean_hub_repo_id(self) -> str:
        value = self.cleaned_data["hub_repo_id"].strip()
        if value and (value.count("/") != 1 or any(c.isspace() for c in value)):
            raise forms.ValidationError(_("Use the form owner/name, for example acme/acme-7b."))
        return value


def capability_choices(rules: dict):
    return [(c["id"], c["label"]) for c in rules["classification"]["capabilities"]]


def domain_choices(rules: dict):
    return [(d["id"], d["label"]) for d in rules["classification"]["sensitive_domains"]]


class ReleaseForm(forms.Form):
    """The release facts. The count is read as on the tier check page; its range and every
    other fact are checked by the classifier in the release services, as for the API."""

    version = forms.CharField(label=_("Release version"), max_length=60, help_text=_("For example 1.0 or 2025-06"),
                              validators=[plain_text])
    parameter_count = forms.CharField(
        label=_("Parameter count"), max_length=40,
        help_text=_("The exact number of parameters, e.g. 7000000000 (or 7,000,000,000) for 7B."),
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "off", "spellcheck": "false"}),
    )
    capabilities = forms.MultipleChoiceField(label=_("Capabilities"), widget=forms.CheckboxSelectMultiple, required=False)
    sensitive_domains = forms.MultipleChoiceField(
        label=_("Sensitive domains the model is trained on or intended for"),
        widget=forms.CheckboxSelectMultiple, required=False,
    )
    emergent_capabilities = forms.BooleanField(label=_("The model shows emergent capabilities"), required=False)
    emergent_description = forms.CharField(
        label=_("Describe the emergent capabilities"), widget=forms.Textarea(attrs={"rows": 3}), required=False
    )
    emergent_description.required_when = _("required when the model shows emergent capabilities")
    declared_tier = forms.TypedChoiceField(
        label=_("Declared tier"), coerce=int, empty_value=None, required=False,
        choices=[("", _("Use the computed tier")), (2, "2"), (3, "3"), (4, "4")],
        help_text=_("You may declare a higher tier than computed, never a lower one."),
    )
    hub_revision = forms.CharField(label=_("Model hub revision"), max_length=100, required=False,
                                   validators=[plain_text])

    def __init__(self, *args, rules: dict, **kwargs):
        super().__init__(*args, **kwargs)
        shown = texts.in_language(rules)  # the labels in the reader's language; the ids are the same
        self.fields["capabilities"].choices = capability_choices(shown)
        self.fields["sensitive_domains"].choices = domain_choices(shown)

    def clean_parameter_count(self) -> int:
        count = parse_parameter_count(self.cleaned_data["parameter_count"])
        if count is None:
            raise forms.ValidationError(_("Enter the parameter count as a whole number, e.g. 7000000000."),
                                        code="invalid")
        return count

    def clean(self):
        data = super().clean()
        if data.get("emergent_capabilities") and not (data.get("emergent_description") or "").strip():
            self.add_error("emergent_description",
                           _("Describe the emergent capabilities: the model shows them, so the description is "
                             "required."))
        return data


class ArtifactsForm(forms.Form):
    manifest_file = forms.FileField(
        label=_("Manifest file (JSON)"), required=False,
        help_text=_("The JSON that the manifest script above prints for the model's directory."),
    )
    lines = forms.CharField(
        label=_("Or one artifact per line: path, size in bytes, sha256"),
        widget=forms.Textarea(attrs={"rows": 6, "spellcheck": "false"}), required=False,
    )


def mark_needed(form_fields: dict, names, required_when: dict | None = None) -> None:
    """Flag the fields a checklist check needs (``checklist.CHECKS``): drafts may leave them blank, but
    their labels must not say "(optional)" where the tier needs the section. ``required_when`` gives the
    label of a field needed only under a condition."""
    for name in names:
        if name in form_fields:
            form_fields[name].needed = True
    for name, text in (required_when or {}).items():
        form_fields[name].required_when = text


class SectionForm(forms.Form):
    """Base for documentation sections: ``to_data`` gives the JSON stored for the section.
    ``needed_fields`` are the fields its checklist check needs (see ``mark_needed``)."""

    needed_fields: tuple[str, ...] = ()
    conditional_fields: dict = {}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        mark_needed(self.fields, self.needed_fields, self.conditional_fields)

    def to_data(self) -> dict:
        return {k: v for k, v in self.cleaned_data.items()}


def _text(label, rows=4, required=False, help_text=""):
    return forms.CharField(label=label, widget=forms.Textarea(attrs={"rows": rows}), required=required,
                           help_text=help_text)


class ModelCardForm(SectionForm):
    needed_fields = ("intended_uses", "out_of_scope_uses", "limitations")
    intended_uses = _text(_("Intended uses"))
    out_of_scope_uses = _text(_("Out-of-scope uses"))
    limitations = _text(_("Known limitations"))


class TrainingDataForm(SectionForm):
    needed_fields = ("synthetic_share_pct", "synthetic_basis", "filtering_steps")
    synthetic_share_pct = forms.DecimalField(label=_("Synthetic data share (%)"), min_value=0, max_value=100,
                                             decimal_places=2, required=False)
    synthetic_basis = forms.ChoiceField(
        label=_("Basis of the synthetic share"), initial="tokens",
        choices=[("tokens", _("Tokens")), ("documents", _("Documents")), ("bytes", _("Bytes"))],
    )
    filtering_steps = _text(_("Filtering steps applied"))

    def to_data(self) -> dict:
        data = dict(self.cleaned_data)
        if data.get("synthetic_share_pct") is not None:
            data["synthetic_share_pct"] = str(data["synthetic_share_pct"])
        return data


class SourceForm(forms.Form):
    name = forms.CharField(label=_("Source name"), max_length=200, required=False, validators=[plain_text])
    kind = forms.CharField(label=_("Kind"), max_length=100, required=False, help_text=_("e.g. web crawl, licensed, synthetic"))
    license = forms.CharField(label=_("License"), max_length=100, required=False)
    share_pct = forms.DecimalField(label=_("Share (%)"), min_value=0, max_value=100, decimal_places=2, required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The checklist needs at least one source, each with all four facts.
        mark_needed(self.fields, ("name", "kind", "license", "share_pct"))

    def clean(self):
        data = super().clean()
        if any(data.get(k) not in (None, "") for k in ("kind", "license", "share_pct")) and not data.get("name"):
            self.add_error("name", _("Name the source."))
        return data


SourceFormSet = forms.formset_factory(SourceForm, extra=2, max_num=50)


class LicenseForm(SectionForm):
    needed_fields = ("permitted_uses", "prohibited_uses")
    conditional_fields = {
        "spdx_id": _("required unless you give a custom license name and link"),
        "custom_name": _("required without an SPDX license id"),
        "custom_url": _("required with a custom license name"),
    }
    spdx_id = forms.CharField(label=_("SPDX license id"), max_length=100, required=False, help_text=_("e.g. apache-2.0 or Apache-2.0"))
    custom_name = forms.CharField(label=_("Or custom license name"), max_length=200, required=False,
                                  validators=[plain_text])
    custom_url = forms.URLField(label=_("Custom license link"), required=False, assume_scheme="https",
                                validators=[web_url])
    permitted_uses = _text(_("Permitted uses"))
    prohibited_uses = _text(_("Prohibited uses"))

    def clean(self):
        data = super().clean()
        if data.get("custom_name") and not data.get("custom_url"):
            self.add_error("custom_url", _("Give the link to the custom license."))
        return data


class ContactForm(SectionForm):
    needed_fields = ("email", "disclosure_policy_url")
    email = forms.EmailField(label=_("Vulnerability contact email"), required=False,
                             help_text=_("We send a confirmation link to this address."))
    disclosure_policy_url = forms.URLField(label=_("Disclosure policy URL"), required=False, assume_scheme="https",
                                           validators=[web_url])


class ComputeForm(SectionForm):
    needed_fields = ("training_flops", "accelerator_type", "accelerator_hours", "energy_kwh", "energy_boundary",
                     "co2e_kg", "co2e_method")
    training_flops = forms.CharField(label=_("Training compute (FLOPs)"), max_length=40, required=False,
                                     help_text=_("e.g. 3.2e23"))
    accelerator_type = forms.CharField(label=_("Accelerator type"), max_length=100, required=False)
    accelerator_hours = forms.DecimalField(label=_("Accelerator hours"), min_value=0, required=False)
    energy_kwh = forms.DecimalField(label=_("Energy (kWh)"), min_value=0, required=False)
    energy_boundary = forms.CharField(label=_("Energy boundary"), max_length=200, required=False,
                                      help_text=_("What the figure covers, e.g. accelerators only, whole data centre (PUE)"))
    co2e_kg = forms.DecimalField(label=_("Emissions (kg CO2e)"), min_value=0, required=False)
    co2e_method = forms.CharField(label=_("Emissions method"), max_length=200, required=False)
    energy_is_estimate = forms.BooleanField(label=_("The energy figure is an estimate"), required=False)
    co2e_is_estimate = forms.BooleanField(label=_("The emissions figure is an estimate"), required=False)

    def clean_training_flops(self) -> str:
        value = self.cleaned_data["training_flops"].strip()
        if value:
            try:
                if float(value) <= 0:
                    raise ValueError
            except ValueError:
                raise forms.ValidationError(_("Enter a positive number, e.g. 3.2e23.")) from None
        return value

    def to_data(self) -> dict:
        return {k: (str(v) if v is not None and not isinstance(v, (str, bool)) else v)
                for k, v in self.cleaned_data.items()}


class ReportForm(SectionForm):
    needed_fields = ("summary",)
    summary = _text(_("Summary of the report"), rows=6, help_text=_("Upload the full report below."))


class RolloutStageForm(forms.Form):
    audience = forms.CharField(label=_("Audience"), max_length=200, required=False)
    planned_date = forms.DateField(label=_("Planned date"), required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def clean(self):
        data = super().clean()
        if bool(data.get("audience")) != bool(data.get("planned_date")):
            self.add_error("planned_date" if data.get("audience") else "audience",
                           _("Give both the audience and the planned date of the stage."))
        return data

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        mark_needed(self.fields, ("audience", "planned_date"))


RolloutFormSet = forms.formset_factory(RolloutStageForm, extra=2, max_num=20)


class AccessForm(SectionForm):
    needed_fields = ("instructions",)
    instructions = _text(_("How auditors and evaluators access the model"), rows=6,
                         help_text=_("Shown only to engaged auditors and enrolled evaluators while their access lasts."))


class FieldsForm(SectionForm):
    """A section of a ``fields`` requirement: one text per field the framework version lists."""

    def __init__(self, *args, fields: list[dict], **kwargs):
        super().__init__(*args, **kwargs)
        for field in fields:
            self.fields[field["id"]] = _text(field["label"], help_text=field.get("help", ""))
        mark_needed(self.fields, [field["id"] for field in fields])


class DomainRiskForm(SectionForm):
    def __init__(self, *args, domains: list[tuple[str, str]], **kwargs):
        super().__init__(*args, **kwargs)
        for domain, label in domains:
            self.fields[f"assessment_{domain}"] = _text(_("Risk assessment: %(d)s") % {"d": label}, rows=6)
        mark_needed(self.fields, list(self.fields))

    def to_data(self) -> dict:
        return {"assessments": {k.removeprefix("assessment_"): v for k, v in self.cleaned_data.items()}}


class BenchmarkResultForm(forms.ModelForm):
    class Meta:
        model = BenchmarkResult
        fields = ["benchmark", "metric", "value", "harness", "settings_text", "run_date", "run_by", "evidence"]
        labels = {"benchmark": _("Benchmark"), "evidence": _("Evidence")}  # the model's fields name none
        widgets = {"run_date": forms.DateInput(attrs={"type": "date"}), "settings_text": forms.Textarea(attrs={"rows": 2})}

    def __init__(self, *args, release=None, **kwargs):
        super().__init__(*args, **kwargs)
        # The catalogue, plus the organization's own custom benchmarks (they count once established).
        org = release.organization if release else None
        self.fields["benchmark"].queryset = Benchmark.objects.filter(
            models.Q(established=True) | models.Q(proposed_by=org)
        ).order_by("category", "name")
        self.fields["evidence"].queryset = EvidenceFile.objects.filter(release=release) if release else EvidenceFile.objects.none()
        self.fields["evidence"].required = False


class EvidenceForm(forms.Form):
    file = forms.FileField(label=_("Evidence file"), help_text=_("PDF, JSON, CSV, Markdown or plain text, up to 20 MB."))
    section = forms.ChoiceField(label=_("Section"), required=False)
    is_public = forms.BooleanField(label=_("Publish this file with the certificate"), required=False)

    def __init__(self, *args, sections=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["section"].choices = [("", _("General"))] + list(sections)


class AttestationForm(forms.Form):
    signer_name = forms.CharField(label=_("Your full name"), max_length=200, validators=[plain_text])
    signer_title = forms.CharField(label=_("Your title or role"), max_length=200, validators=[plain_text])

    def __init__(self, *args, statements: list[dict], **kwargs):
        super().__init__(*args, **kwargs)
        self.statements = statements
        for s in statements:
            self.fields[f"statement_{s['number']}"] = forms.BooleanField(
                label=f"{s['number']}. {s['text']}", required=True,
                error_messages={"required": _("Affirm statement %(n)d to file the attestation.") % {"n": s["number"]}},
            )

    def affirmed(self) -> list[int]:
        return [s["number"] for s in self.statements if self.cleaned_data.get(f"statement_{s['number']}")]


class ReasonForm(forms.Form):
    reasons = forms.CharField(label=_("Reasons"), widget=forms.Textarea(attrs={"rows": 5}))


class RaiseTierForm(forms.Form):
    tier = forms.TypedChoiceField(label=_("New tier"), coerce=int, choices=[(2, "2"), (3, "3"), (4, "4")])
    reason = forms.CharField(label=_("Reason"), widget=forms.Textarea(attrs={"rows": 4}))


class HandOverForm(forms.Form):
    owner = forms.ModelChoiceField(label=_("New owner"), queryset=None)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        from portal.organizations import staff_users

        self.fields["owner"].queryset = staff_users().order_by("email")


class ScreeningFilterForm(forms.Form):
    tier = forms.TypedChoiceField(label=_("Tier"), coerce=int, required=False, empty_value=None,
                                  choices=[("", _("Any"))] + [(t, str(t)) for t in (1, 2, 3, 4)])
    min_age_days = forms.IntegerField(label=_("Waiting at least (days)"), min_value=0, required=False)
    framework_version = forms.CharField(label=_("Framework version"), required=False, max_length=20)
    owner = forms.ChoiceField(label=_("Owner"), required=False,
                              choices=[("", _("Anyone")), ("me", _("Me")), ("none", _("Nobody yet"))])

    def apply(self, qs, user, now):
        """The queue's filters, shared by the page and the API (call once the form is valid)."""
        data = self.cleaned_data
        if data.get("tier"):
            qs = qs.filter(tier=data["tier"])
        if data.get("min_age_days") is not None:
            qs = qs.filter(submitted_at__lte=now - timedelta(days=data["min_age_days"]))
        if data.get("framework_version"):
            qs = qs.filter(framework_version__version=data["framework_version"])
        if data.get("owner") == "me":
            qs = qs.filter(owner=user)
        elif data.get("owner") == "none":
            qs = qs.filter(owner__isnull=True)
        return qs


class CustomBenchmarkForm(forms.ModelForm):
    """An organization proposes a benchmark that is not in the catalogue yet."""

    class Meta:
        model = Benchmark
        fields = ["name", "category", "headline_metric", "better_when"]
        labels = {"name": _("Benchmark name"), "category": _("Category"), "headline_metric": _("Headline metric"),
                  "better_when": _("Better when")}
        help_texts = {"better_when": _("e.g. lower, higher, closer to 0")}


class UpstreamForm(forms.Form):
    """One upstream model of a release (issue 16 §1); ``releases.lineage.add_upstream`` checks it."""

    relation = forms.ChoiceField(label=_("How this release was built from it"), widget=forms.RadioSelect,
                                 choices=Upstream.Relation.choices)
    kind = forms.ChoiceField(label=_("How you name it"), widget=forms.RadioSelect, choices=Upstream.Kind.choices,
                             help_text=_("A certificate number finds its certificate at once. A hub repository id "
                                         "or a file's sha256 finds a certificate if the portal certified it."))
    value = forms.CharField(label=_("The upstream model"), max_length=200, validators=[plain_text],
                            help_text=_("For example RRC-2025-7K3M9Q2D, acme/acme-7b, or the 64 hexadecimal "
                                        "digits of one of its files' sha256"),
                            widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}))
