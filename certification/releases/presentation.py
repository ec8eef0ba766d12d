"""One human rendering of a submission (a frozen revision's content or the live documentation),
used by every page that shows what an organization submitted: staff screening, the auditor's
submission, the evaluator's materials, check your answers and the certificate's model card.

``present`` turns the content dict (the shape of ``applications.revision_content``) into
sections in the framework version's order; each has rows (human label, display value, raw
value, unit) and tables. Labels come from the section forms and the framework data, never
from the JSON keys, so nobody reads ``synthetic_share_pct`` on a page. ``diff`` compares two
contents field by field. The functions are pure: the few lookups a page needs (benchmark
names, which evidence files still exist) are passed in by ``benchmark_names``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from django.http import HttpResponse
from django.template.defaultfilters import filesizeformat
from django.utils import formats
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from certification.framework import texts, tiers
from certification.releases import forms
from certification.releases.models import BenchmarkResult, EvidenceFile
from portal.canonical import canonical_json

# The form whose field labels name the answers of each documentation kind.
LABEL_FORMS: dict[str, type[forms.forms.Form]] = {
    "model_card": forms.ModelCardForm,
    "training_data": forms.TrainingDataForm,
    "license": forms.LicenseForm,
    "vulnerability_contact": forms.ContactForm,
    "compute": forms.ComputeForm,
    "report": forms.ReportForm,
    "access_instructions": forms.AccessForm,
}
# Numbers and their units. FLOPs are written in scientific notation; the others with digit grouping.
UNITS = {
    "synthetic_share_pct": "%",
    "share_pct": "%",
    "training_flops": "FLOPs",
    "accelerator_hours": gettext_lazy("hours"),
    "energy_kwh": "kWh",
    "co2e_kg": "kg CO2e",
}
# A figure and the flag saying it is an estimate: shown together as one row.
ESTIMATE_FLAGS = {"energy_kwh": "energy_is_estimate", "co2e_kg": "co2e_is_estimate"}
LINK_FIELDS = {"custom_url", "disclosure_policy_url"}
SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


@dataclass
class Row:
    """One answer. ``kind`` tells the template how to mark it up: text, number (in a ``<data>``
    element with the raw value), date (in ``<time>``), link or code."""

    key: str
    label: str
    display: str
    raw: Any = None
    unit: str = ""
    kind: str = "text"
    note: str = ""

    @property
    def unit_suffix(self) -> str:
        if not self.unit:
            return ""
        return str(self.unit) if self.unit == "%" else f"\u00a0{self.unit}"


@dataclass
class Cell:
    display: str
    raw: Any = None
    kind: str = "text"
    url: str = ""


@dataclass
class Table:
    key: str
    title: str
    headers: list[str]
    rows: list[list[Cell]]


@dataclass
class Section:
    id: str
    title: str
    rows: list[Row] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    change_url: str = ""
    problems: list[str] = field(default_factory=list)

    @property
    def is_empty(self) -> bool:
        return not self.rows and not self.tables


@dataclass
class DiffRow:
    section: str
    label: str
    before: str
    after: str


# --- values -----------------------------------------------------------------------------------------


def _blank(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {} or (isinstance(value, str) and not value.strip())


def _decimal(value: Any) -> Decimal | None:
    if isinstance(value, bool):
        return None
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


def scientific(number: Decimal) -> str:
    """4.1 × 10²² for 4.1e22: three significant digits at most, trailing zeros dropped."""
    if number == 0:
        return "0"
    exponent = number.adjusted()
    mantissa = (number.scaleb(-exponent)).quantize(Decimal("0.01")).normalize()
    if abs(mantissa) >= 10:  # 9.999 rounds up to 10.0
        mantissa, exponent = (mantissa / 10).normalize(), exponent + 1
    text = formats.number_format(mantissa, use_l10n=True)  # 4.1, or 4,1 in French
    return f"{text} × 10{str(exponent).translate(SUPERSCRIPT)}"


def format_number(number: Decimal) -> str:
    number = number.quantize(Decimal(1)) if number == number.to_integral_value() else number.normalize()
    return formats.number_format(number, use_l10n=True, force_grouping=True)


def format_date(value: str) -> str:
    try:
        return formats.date_format(date.fromisoformat(value), "j F Y")
    except (TypeError, ValueError):
        return str(value)


def _strip_unit(label: str, unit: str) -> str:
    """"Energy (kWh)" reads "Energy" when the value carries its unit."""
    suffix = f"({unit})"
    label = str(label)
    return label[: -len(suffix)].rstrip() if unit and label.endswith(suffix) else label


def _humanize(key: str) -> str:
    """Last resort for a key no form or framework names (e.g. added by a later version)."""
    return key.replace("_", " ").strip().capitalize()


def value_row(key: str, label: str, value: Any, *, choices: Mapping[str, str] | None = None) -> Row | None:
    """One answer as a row; None for an empty answer (omitted, not shown blank)."""
    if _blank(value):
        return None
    unit = UNITS.get(key, "")
    if isinstance(value, bool):
        return Row(key, str(label), _("Yes") if value else _("No"), value)
    if choices and not isinstance(value, (list, dict)) and str(value) in choices:
        return Row(key, str(label), str(choices[str(value)]), value)
    if isinstance(value, (list, tuple)):
        names = [str((choices or {}).get(str(v), v)) for v in value]
        return Row(key, str(label), ", ".join(names), value)
    if isinstance(value, dict):
        text = "; ".join(f"{_humanize(k)}: {v}" for k, v in value.items() if not _blank(v))
        return Row(key, str(label), text, value)
    number = _decimal(value) if (unit or isinstance(value, int)) else None
    if number is not None:
        display = scientific(number) if key == "training_flops" and abs(number) >= 10000 else format_number(number)
        return Row(key, _strip_unit(label, unit), display, value, unit=unit, kind="number")
    text = str(value)
    if key in LINK_FIELDS and text.startswith(("https://", "http://")):
        return Row(key, str(label), text, value, kind="link")
    return Row(key, str(label), text, value)


# --- sections ----------------------------------------------------------------------------------------


def _form_fields(kind: str) -> dict:
    form_class = LABEL_FORMS.get(kind)
    return dict(form_class.base_fields) if form_class else {}


def _field_rows(data: Mapping[str, Any], fields: Mapping[str, Any], skip: Iterable[str] = ()) -> list[Row]:
    """Rows in the form's field order, then any key the form does not know (humanized)."""
    rows = []
    skip = set(skip) | set(ESTIMATE_FLAGS.values())
    keys = [k for k in fields if k in data] + [k for k in data if k not in fields]
    for key in keys:
        if key in skip:
            continue
        f = fields.get(key)
        label = f.label if f is not None and f.label else _humanize(key)
        choices = {str(k): v for k, v in getattr(f, "choices", None) or []} or None
        row = value_row(key, label, data[key], choices=choices)
        if row is None:
            continue
        flag = ESTIMATE_FLAGS.get(key)
        if flag and data.get(flag):
            row.note = _("estimate")
        rows.append(row)
    return rows


def _stage_table(stages: list[dict]) -> Table | None:
    fields = forms.RolloutStageForm.base_fields
    rows = [[Cell(str(s.get("audience") or "")),
             Cell(format_date(s.get("planned_date")), s.get("planned_date"), kind="date")]
            for s in stages if isinstance(s, Mapping) and not _blank(s.get("audience"))]
    if not rows:
        return None
    headers = [str(fields["audience"].label), str(fields["planned_date"].label)]
    return Table("stages", _("Rollout stages"), headers, rows)


def _source_table(sources: list[dict]) -> Table | None:
    fields = forms.SourceForm.base_fields
    rows = []
    for s in sources:
        if not isinstance(s, Mapping) or _blank(s.get("name")):
            continue
        share = _decimal(s.get("share_pct")) if not _blank(s.get("share_pct")) else None
        rows.append([Cell(str(s["name"])), Cell(str(s.get("kind") or "")), Cell(str(s.get("license") or "")),
                     Cell(f"{format_number(share)}%", s.get("share_pct"), kind="number") if share is not None
                     else Cell("")])
    if not rows:
        return None
    headers = [str(fields["name"].label), str(fields["kind"].label), str(fields["license"].label),
               str(fields["share_pct"].label)]
    return Table("sources", _("Data sources"), headers, rows)


def _section_content(kind: str, requirement: Mapping[str, Any], data: Mapping[str, Any],
                     domain_labels: Mapping[str, str]) -> tuple[list[Row], list[Table]]:
    if not isinstance(data, Mapping):
        row = value_row("value", _("Answer"), data)
        return ([row] if row else []), []
    if kind == "fields":
        fields = {f["id"]: f for f in requirement.get("fields") or []}
        rows = [value_row(k, fields[k]["label"] if k in fields else _humanize(k), data[k])
                for k in [*fields, *(k for k in data if k not in fields)] if k in data]
        return [r for r in rows if r], []
    if kind == "domain_risk_assessments":
        assessments = data.get("assessments") or {}
        rows = [value_row(d, _("Risk assessment: %(d)s") % {"d": domain_labels.get(d, _humanize(d))}, text)
                for d, text in assessments.items()]
        return [r for r in rows if r], []
    if kind == "rollout_plan":
        table = _stage_table(data.get("stages") or [])
        return _field_rows(data, {}, skip={"stages"}), [table] if table else []
    if kind == "training_data":
        table = _source_table(data.get("sources") or [])
        return _field_rows(data, _form_fields(kind), skip={"sources"}), [table] if table else []
    return _field_rows(data, _form_fields(kind)), []


def benchmark_table(results: list[dict], benchmark_names: Mapping[str, str], category_labels: Mapping[str, str],
                    run_by_labels: Mapping[str, str]) -> Table | None:
    rows = []
    for r in results:
        slug = r.get("benchmark") or ""
        run = format_date(r.get("run_date")) if r.get("run_date") else ""
        by = str(run_by_labels.get(r.get("run_by"), "")) if r.get("run_by") else ""
        rows.append([
            Cell(str(benchmark_names.get(slug) or _humanize(slug))),
            Cell(str(category_labels.get(r.get("category"), _humanize(r.get("category") or "")))),
            Cell(str(r.get("metric") or "")),
            Cell(str(r.get("harness") or "")),
            Cell(str(r.get("value") or ""), r.get("value"),
                 kind="number" if _decimal(r.get("value")) is not None else "text"),
            Cell(", ".join(x for x in (run, by) if x), r.get("run_date")),
        ])
    if not rows:
        return None
    return Table("benchmark_results", _("Benchmark results"),
                 [_("Benchmark"), _("Category"), _("Metric"), _("Harness"), _("Value"), _("Run")], rows)


def evidence_table(files: list[dict], evidence_url: Callable[[dict], str] | None,
                   family_labels: Mapping[str, str], title: str = "") -> Table | None:
    rows = [[Cell(str(e.get("name") or ""), kind="file", url=evidence_url(e) if evidence_url else ""),
             Cell(str(family_labels.get(e.get("family"), e.get("family") or ""))),
             Cell(filesizeformat(e.get("size") or 0), e.get("size"), kind="number"),
             Cell(str(e.get("sha256") or ""), kind="hash")] for e in files]
    if not rows:
        return None
    return Table("evidence", title or _("Evidence files"), [_("File"), _("Type"), _("Size"), "sha256"], rows)


def artifact_table(artifacts: list[dict]) -> Table | None:
    rows = [[Cell(str(a.get("path") or ""), kind="file"), Cell(filesizeformat(a.get("size") or 0), a.get("size"),
                                                               kind="number"),
             Cell(str(a.get("sha256") or ""), kind="hash")] for a in artifacts]
    if not rows:
        return None
    return Table("artifacts", _("Artifacts"), [_("File"), _("Size"), "sha256"], rows)


def release_section(content: Mapping[str, Any], rules: Mapping[str, Any]) -> Section:
    """The release facts the tier was computed from, labelled as on the release form."""
    release = content.get("release") or {}
    model = content.get("model") or {}
    fields = forms.ReleaseForm.base_fields
    classification = rules.get("classification") or {}
    capability_labels = {c["id"]: c["label"] for c in classification.get("capabilities", [])}
    domain_labels = {d["id"]: d["label"] for d in classification.get("sensitive_domains", [])}
    candidates = [
        value_row("model", _("Model"), model.get("name")),
        value_row("hub_repo_id", _("Model hub repository"), model.get("hub_repo_id")),
        value_row("version", fields["version"].label, release.get("version")),
        value_row("parameter_count", fields["parameter_count"].label, release.get("parameter_count")),
        value_row("capabilities", fields["capabilities"].label, release.get("capabilities"), choices=capability_labels),
        value_row("sensitive_domains", fields["sensitive_domains"].label, release.get("sensitive_domains"),
                  choices=domain_labels),
        value_row("emergent_capabilities", fields["emergent_capabilities"].label,
                  release.get("emergent_capabilities") or None),
        value_row("emergent_description", fields["emergent_description"].label, release.get("emergent_description")),
        value_row("declared_tier", fields["declared_tier"].label, release.get("declared_tier")),
        value_row("raised_tier", _("Tier raised by staff to"), release.get("raised_tier")),
        value_row("tier", _("Tier"), content.get("tier")),
        value_row("framework_version", _("Framework version"), content.get("framework_version")),
    ]
    rows = [r for r in candidates if r is not None]
    for row in rows:
        if row.key in ("hub_repo_id", "framework_version"):
            row.kind = "code"
    return Section("release", _("Release"), rows)


def present(content: Mapping[str, Any], rules: Mapping[str, Any], *,
            benchmark_names: Mapping[str, str] | None = None,
            evidence_url: Callable[[dict], str] | None = None,
            change_url: Callable[[str], str] | None = None,
            include_release: bool = True, include_artifacts: bool = True, include_evidence: bool = True,
            hide_sections: Iterable[str] = (), all_sections: bool = False) -> list[Section]:
    """The sections of a submission in the framework's order.

    1. The release facts (unless ``include_release`` is false).
    2. Each documentation requirement of the content's tier (every one with ``all_sections``), and
       any other section the content holds, minus ``hide_sections`` (the certificate's private ones).
       The safety benchmarks section carries the benchmark table; a section its evidence files.
    3. Evidence not filed under a section, then the artifacts.
    ``change_url(section_id)`` gives each section its "Change" link (check your answers).
    The framework's texts (section titles, labels) are in the reader's language.
    """
    rules = texts.in_language(rules)
    sections_data = content.get("sections") or {}
    tier = content.get("tier")
    hidden = set(hide_sections)
    requirements = tiers.documentation_requirements(rules)
    wanted = [r for r in requirements
              if (all_sections or tier is None or tier in (r.get("tiers") or []) or r["id"] in sections_data)
              and r["id"] not in hidden]
    known = {r["id"] for r in requirements}
    domain_labels = {d["id"]: d["label"] for d in (rules.get("classification") or {}).get("sensitive_domains", [])}
    category_labels = {c["id"]: c["label"] for c in (rules.get("benchmarks") or {}).get("categories", [])}
    names = {b["id"]: b["name"] for b in (rules.get("benchmarks") or {}).get("catalogue", [])}
    names.update(benchmark_names or {})
    run_by_labels = dict(BenchmarkResult.RunBy.choices)
    family_labels = dict(EvidenceFile.Family.choices)
    evidence = list(content.get("evidence") or []) if include_evidence else []
    url_for = change_url or (lambda _sid: "")

    result = [release_section(content, rules)] if include_release else []
    if include_release and change_url:
        result[0].change_url = change_url("release")
    for requirement in wanted:
        sid = requirement["id"]
        kind = tiers.check_kind(requirement)
        rows, tables = _section_content(kind, requirement, sections_data.get(sid) or {}, domain_labels)
        if kind == "safety_benchmarks":
            table = benchmark_table(list(content.get("benchmark_results") or []), names, category_labels,
                                    run_by_labels)
            tables = [*tables, table] if table else tables
        files = evidence_table([e for e in evidence if e.get("section") == sid], evidence_url, family_labels)
        if files:
            tables.append(files)
        result.append(Section(sid, str(requirement.get("title") or _humanize(sid)), rows, tables, url_for(sid)))
    for sid in sections_data:
        if sid not in known and sid not in hidden:
            rows, tables = _section_content("", {}, sections_data[sid] or {}, domain_labels)
            result.append(Section(sid, _humanize(sid), rows, tables))
    shown = {s.id for s in result}
    other = [e for e in evidence if e.get("section") not in shown]
    files = evidence_table(other, evidence_url, family_labels, _("Other evidence files"))
    if files:
        result.append(Section("evidence", _("Other evidence files"), [], [files], url_for("evidence")))
    if include_artifacts:
        table = artifact_table(list(content.get("artifacts") or []))
        result.append(Section("artifacts", _("Artifacts"), [], [table] if table else [], url_for("artifacts")))
    return result


# --- differences ---------------------------------------------------------------------------------------


def _row_text(row: Row) -> str:
    text = f"{row.display}{row.unit_suffix}"
    return f"{text} ({row.note})" if row.note else text


def _flatten(sections: list[Section]) -> dict[tuple[str, str], tuple[str, str, dict[str, str]]]:
    """(section id, field) -> (section title, field label, {column: text}): a row has one column,
    a table row (keyed by its first cell, e.g. the benchmark or the file) one per other column."""
    flat = {}
    for section in sections:
        for row in section.rows:
            flat[(section.id, row.key)] = (section.title, row.label, {"": _row_text(row)})
        for table in section.tables:
            for cells in table.rows:
                name = cells[0].display
                flat[(section.id, f"{table.key}:{name}")] = (
                    section.title, f"{table.title}: {name}",
                    {h: c.display for h, c in zip(table.headers[1:], cells[1:], strict=False) if c.display})
    return flat


def _joined(columns: dict[str, str]) -> str:
    return "; ".join(f"{h}: {v}" if h else v for h, v in columns.items())


def diff(old: Mapping[str, Any], new: Mapping[str, Any], rules: Mapping[str, Any], *,
         benchmark_names: Mapping[str, str] | None = None) -> list[DiffRow]:
    """Every field that differs between two contents: section title, field label, before and after
    ("" where the field is absent on one side), in the order of the newer content. A table row on
    both sides gives one line per changed column ("Benchmark results: BBQ, Value")."""
    rules = texts.in_language(rules)  # once, not in each present()
    before = _flatten(present(old, rules, benchmark_names=benchmark_names, all_sections=True))
    after = _flatten(present(new, rules, benchmark_names=benchmark_names, all_sections=True))
    rows = []
    for key in [*after, *(k for k in before if k not in after)]:
        a, b = before.get(key), after.get(key)
        section, label = (b or a)[0], (b or a)[1]
        if a and b:
            for column in dict.fromkeys([*b[2], *a[2]]):
                x, y = a[2].get(column, ""), b[2].get(column, "")
                if x != y:
                    rows.append(DiffRow(section, f"{label}, {column}" if column else label, x, y))
        else:
            rows.append(DiffRow(section, label, _joined(a[2]) if a else "", _joined(b[2]) if b else ""))
    return rows


def benchmark_names_for(content: Mapping[str, Any], rules: Mapping[str, Any] | None = None) -> dict[str, str]:
    """The catalogue names of the benchmarks a content reports. The framework's catalogue names the
    seeded ones; custom benchmarks take one query (none when every result is from the catalogue)."""
    from certification.framework.models import Benchmark

    known = {b["id"] for b in ((rules or {}).get("benchmarks") or {}).get("catalogue", [])}
    slugs = {r.get("benchmark") for r in content.get("benchmark_results") or []} - known
    return dict(Benchmark.objects.filter(slug__in=slugs).values_list("slug", "name")) if slugs else {}


def json_download(revision, filename: str) -> HttpResponse:
    """The revision's content as canonical JSON (RFC 8785): its sha256 is the one the revision records."""
    response = HttpResponse(canonical_json(revision.content), content_type="application/json")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["X-Content-Type-Options"] = "nosniff"
    return response
