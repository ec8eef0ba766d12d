"""Forms of the community review pages (DESIGN §6). They only shape input; the
rules live in ``certification.review``."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from auditors import conflicts
from certification.review.models import Finding, FindingResponse
from portal import labels
from portal.validators import plain_text

TEXTAREA = {"rows": 5}


class EnrolForm(forms.Form):
    confidentiality = forms.BooleanField(
        label=_("I will keep the review materials and the access instructions confidential, and use them only "
                "for this review."),
        required=True,
    )


class FindingForm(forms.ModelForm):
    atlas_techniques = forms.CharField(
        label=_("MITRE ATLAS technique ids"), required=False,
        help_text=_("Optional, separated by commas or spaces, e.g. AML.T0051, AML.T0054"),
    )

    class Meta:
        model = Finding
        fields = ["title", "category", "severity", "prevalence", "affected_capability", "reproduction_steps",
                  "expected_behaviour", "observed_behaviour", "infohazard", "atlas_techniques"]
        widgets = {
            "reproduction_steps": forms.Textarea(attrs=TEXTAREA),
            "expected_behaviour": forms.Textarea(attrs={"rows": 3}),
            "observed_behaviour": forms.Textarea(attrs={"rows": 3}),
        }
        help_texts = {
            "reproduction_steps": _("Prompts, settings and steps that make the behaviour appear."),
            "prevalence": _("How often the behaviour appears when the steps are followed."),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk and not self.is_bound:
            self.initial["atlas_techniques"] = ", ".join(self.instance.atlas_techniques or [])

    def clean_atlas_techniques(self):
        from certification.framework.services import WorkflowError
        from certification.review.findings import clean_atlas

        try:
            return clean_atlas(self.cleaned_data.get("atlas_techniques") or "")
        except WorkflowError as exc:
            raise forms.ValidationError(str(exc)) from exc

    def data_for_service(self) -> dict:
        return {name: self.cleaned_data[name] for name in self.Meta.fields}


class AttachmentForm(forms.Form):
    file = forms.FileField(label=_("Attachment"),
                           help_text=_("PDF, JSON, CSV, Markdown or plain text; checked by its content."))


class TriageForm(forms.Form):
    outcome = forms.ChoiceField(
        label=_("Outcome"), widget=forms.RadioSelect,
        choices=[(s.value, s.label) for s in Finding.TRIAGE_OUTCOMES],
    )
    note = forms.CharField(label=_("Note"), widget=forms.Textarea(attrs={"rows": 3}), required=False,
                           help_text=_("Required unless the finding is accepted. The evaluator reads it."))
    duplicate_of = forms.ModelChoiceField(label=_("Duplicate of"), queryset=Finding.objects.none(), required=False)
    severity = forms.ChoiceField(label=_("Severity"), choices=Finding.Severity.choices)
    severity_reason = forms.CharField(label=_("Reason for a change of severity"), required=False,
                                      widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args, finding: Finding, **kwargs):
        kwargs.setdefault("initial", {"severity": finding.severity})
        super().__init__(*args, **kwargs)
        self.fields["duplicate_of"].queryset = (
            Finding.objects.filter(window_id=finding.window_id).exclude(status=Finding.Status.DRAFT)
            .exclude(pk=finding.pk).order_by("submitted_at", "pk")
        )
        self.fields["duplicate_of"].label_from_instance = lambda f: f"#{f.pk} {f.title}"


class ResponseForm(forms.Form):
    kind = forms.ChoiceField(label=_("Response"), widget=forms.RadioSelect, choices=FindingResponse.Kind.choices)
    details = forms.CharField(
        label=_("Details"), widget=forms.Textarea(attrs=TEXTAREA),
        help_text=_("Mitigated: what changed. Accepted risk: the rationale. Disputed: the reason. Public once the "
                    "release is certified."),
    )
    fixed_in = forms.CharField(label=_("Release with the change"), max_length=60, required=False,
                               help_text=_("Required when mitigated, e.g. 1.0.1"), validators=[plain_text])
    fixed_in.required_when = _("required when mitigated")  # the label of includes/fields.html


class RejoinderForm(forms.Form):
    text = forms.CharField(label=_("Your rejoinder"), widget=forms.Textarea(attrs=TEXTAREA))


class OverrideForm(forms.Form):
    evaluator = forms.EmailField(label=_("Evaluator's email address"))
    code = forms.ChoiceField(label=_("Potential conflict"),
                             choices=lambda: [(c, labels.label("conflict", c)) for c in conflicts.POTENTIAL_CODES])
    reason = forms.CharField(label=_("Reason for the override"), widget=forms.Textarea(attrs={"rows": 2}))
