from __future__ import annotations

import zoneinfo

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from portal.models import ApiToken, Membership, Organization, User
from portal.validators import plain_text, web_url

TIME_ZONE_CHOICES = [(tz, tz) for tz in sorted(zoneinfo.available_timezones()) if "/" in tz or tz == "UTC"]


class OrganizationForm(forms.ModelForm):
    website = forms.URLField(label=_("Website"), required=False, assume_scheme="https", validators=[web_url])

    class Meta:
        model = Organization
        fields = ["name", "legal_name", "website", "country"]

    def clean_country(self) -> str:
        value = self.cleaned_data["country"].strip().upper()
        if value and (len(value) != 2 or not value.isalpha()):
            raise forms.ValidationError(_("Enter a two-letter ISO 3166 country code, such as FR or US."))
        return value


class StaffOrganizationForm(OrganizationForm):
    class Meta(OrganizationForm.Meta):
        fields = [*OrganizationForm.Meta.fields, "is_alliance_member"]


class InvitationForm(forms.Form):
    email = forms.EmailField(label=_("Email address"))
    role = forms.ChoiceField(label=_("Role"), choices=Membership.Role.choices, initial=Membership.Role.MEMBER)


class RoleForm(forms.Form):
    role = forms.ChoiceField(label=_("Role"), choices=Membership.Role.choices)


class ProfileForm(forms.ModelForm):
    time_zone = forms.ChoiceField(label=_("Time zone"), choices=TIME_ZONE_CHOICES)
    language = forms.ChoiceField(
        label=_("Language"), required=False,
        choices=lambda: [("", _("As my browser asks (emails in English)")), *settings.LANGUAGES],
        help_text=_("The portal's pages and the emails it sends you."),
    )

    class Meta:
        model = User
        fields = ["name", "time_zone", "language"]


SCOPE_LABELS = {
    ApiToken.READ: _("read: everything you can see"),
    ApiToken.WRITE: _("write: everything you can change, except filing attestations and staff operations"),
    ApiToken.ATTEST: _("attest: file attestations (asks you to confirm who you are; the token expires after one hour)"),
    ApiToken.STAFF: _("staff: Alliance staff operations"),
}


class ApiTokenForm(forms.Form):
    name = forms.CharField(label=_("Token name"), max_length=100, help_text=_("What the token is for, e.g. CI"),
                           validators=[plain_text])
    scopes = forms.MultipleChoiceField(
        label=_("Scopes"), widget=forms.CheckboxSelectMultiple, initial=[ApiToken.READ],
        help_text=_("What the token may do. It never does more than you can."),
        error_messages={"required": _("Choose at least one scope.")},
    )

    def __init__(self, *args, user: User, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        # The staff scope is offered to staff only (check_token_scopes refuses it from anyone else).
        offered = [s for s in ApiToken.SCOPES if s != ApiToken.STAFF or user.is_alliance_staff]
        self.fields["scopes"].choices = [(s, SCOPE_LABELS[s]) for s in offered]

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if ApiToken.objects.active().filter(user=self.user, name=name).exists():
            raise forms.ValidationError(_("You already have an active token with this name."))
        return name


class DeleteAccountForm(forms.Form):
    confirm = forms.CharField(
        label=_("Type DELETE to confirm"), help_text=_("Your name and email address will be erased.")
    )

    def clean_confirm(self) -> str:
        if self.cleaned_data["confirm"].strip() != "DELETE":
            raise forms.ValidationError(_("Type DELETE in capital letters to confirm."))
        return "DELETE"


class AuditFilterForm(forms.Form):
    action = forms.CharField(label=_("Action starts with"), required=False)
    organization = forms.ModelChoiceField(
        label=_("Organization"), queryset=Organization.objects.all(), required=False
    )
    actor = forms.CharField(label=_("Actor email"), required=False)
    since = forms.DateField(label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(label=_("Until"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
