"""Forms of the auditor network. Choices come from the framework version in
force; the services check every rule again."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from auditors import conflicts
from auditors.models import Accreditation, Affiliation, AuditReport, Offer
from certification.framework.models import FrameworkVersion
from portal.validators import plain_text

TIER_CHOICES = [(3, _("Tier 3")), (4, _("Tier 4"))]


def domain_choices() -> list[tuple[str, str]]:
    fv = FrameworkVersion.objects.in_force()
    if fv is None:
        return []
    return [(d["id"], d["label"]) for d in fv.rules["classification"]["sensitive_domains"]]


def split_domains(text: str) -> list[str]:
    return [conflicts.normalize_domain(p) for p in text.replace(",", " ").split() if p.strip()]


class JoinForm(forms.Form):
    """Applying to join the network; evaluators get the lighter shape."""

    kind = forms.ChoiceField(label=_("Kind"), choices=Accreditation.Kind.choices)
    firm = forms.CharField(label=_("Firm or institution"), max_length=200, validators=[plain_text])
    requested_tiers = forms.TypedMultipleChoiceField(
        label=_("Tiers you ask to audit"), choices=TIER_CHOICES, coerce=int, widget=forms.CheckboxSelectMultiple)
    requested_domains = forms.MultipleChoiceField(
        label=_("Sensitive domains of your expertise"), widget=forms.CheckboxSelectMultiple, required=False)
    capacity = forms.IntegerField(label=_("Concurrent engagements you can take"), min_value=1, max_value=20,
                                  initial=2)
    email_domains = forms.CharField(
        label=_("Email domains you use"), required=False,
        help_text=_("Separated by spaces or commas, e.g. audits.example. Your sign-in address counts anyway."))
    statement = forms.CharField(label=_("Experience and motivation"), widget=forms.Textarea(attrs={"rows": 5}))
    supporting_file = forms.FileField(
        label=_("Supporting file"), required=False,
        help_text=_("A CV or accreditation evidence: PDF, Markdown or plain text."))

    def __init__(self, *args, role: str = Accreditation.Role.AUDITOR, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["requested_domains"].choices = domain_choices()
        if role == Accreditation.Role.EVALUATOR:
            del self.fields["requested_tiers"]
            del self.fields["capacity"]
            self.fields["requested_domains"].label = _("Sensitive domains of your research")

    def clean_email_domains(self) -> list[str]:
        return split_domains(self.cleaned_data["email_domains"])


class AffiliationForm(forms.Form):
    organization_name = forms.CharField(label=_("Organization"), max_length=200, required=False,
                                        validators=[plain_text])
    relation = forms.ChoiceField(label=_("Relation"), choices=[("", "—"), *Affiliation.Relation.choices],
                                 required=False)
    started_on = forms.DateField(label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    ended_on = forms.DateField(label=_("To"), required=False, widget=forms.DateInput(attrs={"type": "date"}),
                               help_text=_("Empty while it lasts."))

    def clean(self):
        data = super().clean()
        if data.get("organization_name") and not data.get("relation"):
            self.add_error("relation", _("Choose the relation."))
        if data.get("relation") and not data.get("organization_name"):
            self.add_error("organization_name", _("Name the organization."))
        if data.get("started_on") and data.get("ended_on") and data["ended_on"] < data["started_on"]:
            self.add_error("ended_on", _("The end cannot be before the start."))
        return data


AffiliationFormSet = forms.formset_factory(AffiliationForm, extra=3)


class ApproveForm(forms.Form):
    tiers = forms.TypedMultipleChoiceField(label=_("Accredited tiers"), choices=TIER_CHOICES, coerce=int,
                                           widget=forms.CheckboxSelectMultiple, required=False)
    domains = forms.MultipleChoiceField(label=_("Accredited sensitive domains"), widget=forms.CheckboxSelectMultiple,
                                        required=False)
    capacity = forms.IntegerField(label=_("Capacity (concurrent engagements)"), min_value=1, max_value=20)
    valid_until = forms.DateField(label=_("Valid until"), required=False,
                                  widget=forms.DateInput(attrs={"type": "date"}),
                                  help_text=_("Empty: two years from today."))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["domains"].choices = domain_choices()


class ReasonForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), widget=forms.Textarea(attrs={"rows": 4}))


class AcceptOfferForm(forms.Form):
    confidentiality = forms.BooleanField(
        label=_("I accept the confidentiality terms: I will use the submission and model access only for this "
                "audit and disclose nothing of it outside the audit report."))


class DeclineOfferForm(forms.Form):
    reason = forms.ChoiceField(label=_("Why do you decline?"), choices=Offer.DeclineReason.choices,
                               widget=forms.RadioSelect)
    note = forms.CharField(label=_("Details"), required=False, widget=forms.Textarea(attrs={"rows": 3}),
                           help_text=_("Required for 'Other'; seen by Alliance staff only."))


class OverrideForm(forms.Form):
    accreditation = forms.IntegerField(widget=forms.HiddenInput)
    code = forms.ChoiceField(label=_("Potential conflict"), choices=[(c, c) for c in conflicts.POTENTIAL_CODES])
    reason = forms.CharField(label=_("Reason for the override"), widget=forms.Textarea(attrs={"rows": 3}))


class ListingForm(forms.Form):
    listed_publicly = forms.BooleanField(label=_("List me in the public directory"), required=False)


def issues_to_text(issues: list[dict]) -> str:
    return "\n".join(" | ".join(p for p in (i["severity"], i["title"], i.get("description", "")) if p)
                     for i in issues or [])


def parse_issues(text: str) -> list[dict]:
    """One issue per line: ``severity | title | description`` (description optional)."""
    issues = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        parts = [p.strip() for p in line.split("|", 2)]
        if len(parts) < 2 or parts[0].lower() not in AuditReport.Severity.values:
            raise forms.ValidationError(
                _("Line %(n)d: start with a severity (critical, high, medium, low or info), then | and the title.")
                % {"n": number})
        issues.append({"severity": parts[0].lower(), "title": parts[1],
                       "description": parts[2] if len(parts) > 2 else ""})
    return issues


class ReportForm(forms.Form):
    """The audit report template (DESIGN §5); one reproduced-value field per reported benchmark result."""

    scope = forms.CharField(label=_("Scope"), required=False, widget=forms.Textarea(attrs={"rows": 4}))
    methods = forms.CharField(label=_("Methods"), required=False, widget=forms.Textarea(attrs={"rows": 4}))
    issues = forms.CharField(
        label=_("Issues found"), required=False, widget=forms.Textarea(attrs={"rows": 5}),
        help_text=_("One per line: severity | title | description. Severity is critical, high, medium, low or info."))
    recommendation = forms.ChoiceField(label=_("Recommendation"), required=False, widget=forms.RadioSelect,
                                       choices=AuditReport.Recommendation.choices)
    conditions = forms.CharField(label=_("Conditions"), required=False, widget=forms.Textarea(attrs={"rows": 4}),
                                 help_text=_("For a pass with conditions: one condition per line."))
    signed_file = forms.FileField(label=_("Signed report (PDF)"), required=False)

    def __init__(self, *args, results: list[dict] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.results = results or []
        for i, result in enumerate(self.results):
            self.fields[f"reproduced_{i}"] = forms.CharField(
                label=_("%(benchmark)s (%(metric)s), reported %(value)s: value you reproduced")
                % {"benchmark": result["benchmark"], "metric": result["metric"], "value": result["value"]},
                required=False, max_length=60, help_text=_("Leave empty if not reproduced."))

    def clean_issues(self) -> list[dict]:
        return parse_issues(self.cleaned_data["issues"])

    def clean_conditions(self) -> list[str]:
        return [line.strip() for line in self.cleaned_data["conditions"].splitlines() if line.strip()]

    def report_data(self) -> dict:
        data = self.cleaned_data
        reproduced = [
            {"benchmark": r["benchmark"], "metric": r["metric"], "reported": r["value"],
             "reproduced": data.get(f"reproduced_{i}", ""), "notes": ""}
            for i, r in enumerate(self.results) if data.get(f"reproduced_{i}")
        ]
        return {"scope": data["scope"], "methods": data["methods"], "issues": data["issues"],
                "recommendation": data["recommendation"], "reproduced_results": reproduced}


class ResolveConditionForm(forms.Form):
    resolution = forms.CharField(label=_("How the condition was met"), widget=forms.Textarea(attrs={"rows": 3}))


class ConditionReviewForm(forms.Form):
    note = forms.CharField(label=_("Note"), required=False, widget=forms.Textarea(attrs={"rows": 2}))
