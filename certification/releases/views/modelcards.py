"""Model card import (prefill the documentation from a Hub README.md) and
export (the documentation as a Hub README.md) (DESIGN §2.2, §7)."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET

from certification.framework import services as framework_services
from certification.releases import modelcard
from certification.releases import services as release_services
from certification.releases.access import get_release_for_user, membership_of


class ModelCardImportForm(forms.Form):
    card_file = forms.FileField(
        label=gettext_lazy("Model card file (README.md)"), required=False,
        help_text=gettext_lazy("UTF-8 text, up to 1 MB, with its YAML front matter."),
    )
    card_text = forms.CharField(
        label=gettext_lazy("Or paste the model card"), required=False,
        widget=forms.Textarea(attrs={"rows": 14, "spellcheck": "false"}),
    )

    def clean(self):
        data = super().clean()
        if not data.get("card_file") and not (data.get("card_text") or "").strip():
            raise forms.ValidationError(_("Choose a README.md file or paste the model card."))
        return data

    def raw(self) -> tuple[str, bytes | str]:
        """The field the card came from, and its content (file bytes are read
        only up to just over the limit, so a huge upload is refused cheaply)."""
        upload = self.cleaned_data.get("card_file")
        if upload:
            return "card_file", upload.read(modelcard.MAX_CARD_BYTES + 1)
        # Browsers send textarea line ends as CRLF.
        return "card_text", self.cleaned_data["card_text"].replace("\r\n", "\n").encode("utf-8")


def _editable_problem(release) -> str | None:
    try:
        release_services.ensure_release_editable(release)
    except framework_services.WorkflowError as exc:
        return str(exc)
    return None


@login_required
def import_card(request: HttpRequest, pk: int) -> HttpResponse:
    release = get_release_for_user(request, pk)
    is_member = membership_of(request, release.organization) is not None
    locked = _editable_problem(release)
    posted = request.method == "POST"
    form = ModelCardImportForm(request.POST if posted else None, request.FILES if posted else None)
    if posted:
        # Staff may look at the page; only the organization's members change its drafts.
        if not is_member:
            raise PermissionDenied
        if form.is_valid():
            field, raw = form.raw()
            try:
                summary = modelcard.import_card(release, request.user, raw, request=request)
            except modelcard.ModelCardError as exc:
                form.add_error(field, str(exc))
            except framework_services.WorkflowError as exc:
                messages.error(request, str(exc))
                return redirect("certification:release-detail", release.pk)
            else:
                _report(request, summary)
                return redirect("certification:release-detail", release.pk)
    context = {"release": release, "form": form, "can_import": is_member and locked is None, "locked": locked,
               "is_member": is_member}
    return render(request, "certification/releases/modelcard_import.html", context)


def _report(request: HttpRequest, summary: modelcard.ImportSummary) -> None:
    if not summary.sections and not summary.benchmarks_added:
        messages.info(request, _("The model card added nothing new to the documentation."))
    else:
        messages.success(
            request,
            _("Model card imported: %(sections)d sections updated, %(results)d benchmark results added. "
              "Check each section and complete what the card does not say.")
            % {"sections": len(summary.sections), "results": len(summary.benchmarks_added)},
        )
    if summary.benchmarks_skipped:
        messages.warning(
            request,
            _("Results for datasets outside the benchmark catalogue were not imported: %(names)s.")
            % {"names": ", ".join(summary.benchmarks_skipped)},
        )
    for note in summary.notes:
        messages.warning(request, note)


@login_required
@require_GET
def export_card(request: HttpRequest, pk: int) -> HttpResponse:
    release = get_release_for_user(request, pk)
    response = HttpResponse(modelcard.export_card(release), content_type="text/markdown; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="README.md"'
    return response
