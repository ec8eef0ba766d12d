"""Hugging Face model card import and export (DESIGN §2.2, §7).

Import reads a README.md (YAML front matter plus markdown body) and prefills
the release's documentation through the documentation services, so every
change is in the audit log and refused while the release is under review.
Export renders the documentation as a README.md that the Hub's own parser
(``huggingface_hub.ModelCard``) accepts, with the benchmark results in its
``model-index``.

The export works on the same data shape as ``services.revision_content``, so a
frozen revision renders exactly as the live documentation did.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

import yaml
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext as _

from certification.framework import services as framework_services
from certification.framework.models import Benchmark
from certification.releases import services as release_services
from certification.releases.models import BenchmarkResult, Documentation, Release
from portal import audit
from portal.models import User
from portal.parsing import ParseError, load_yaml
from portal.validators import text_problem, web_url

MAX_CARD_BYTES = 1024 * 1024
# The Hub's own front matter pattern (huggingface_hub.repocard.REGEX_YAML_BLOCK).
FRONT_MATTER = re.compile(r"^(\s*---(?:\r\n|\r|\n))([\S\s]*?)((?:\r\n|\r|\n)---[ \t]*(\r\n|\n|$))")
HEADING = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t#]*$")
FENCE = re.compile(r"^\s*(```|~~~)")
HTML_COMMENT = re.compile(r"<!--.*?-->", re.S)
PLACEHOLDER = "[More Information Needed]"

# License identifiers the Hub accepts in ``license:`` (hub-docs repositories-licenses.md).
HUB_LICENSES = frozenset(
    """apache-2.0 mit openrail bigscience-openrail-m creativeml-openrail-m bigscience-bloom-rail-1.0
    bigcode-openrail-m afl-3.0 artistic-2.0 bsl-1.0 bsd bsd-2-clause bsd-3-clause bsd-3-clause-clear c-uda cc
    cc0-1.0 cc-by-2.0 cc-by-2.5 cc-by-3.0 cc-by-4.0 cc-by-sa-3.0 cc-by-sa-4.0 cc-by-nc-2.0 cc-by-nc-3.0
    cc-by-nc-4.0 cc-by-nd-4.0 cc-by-nc-nd-3.0 cc-by-nc-nd-4.0 cc-by-nc-sa-2.0 cc-by-nc-sa-3.0 cc-by-nc-sa-4.0
    cdla-sharing-1.0 cdla-permissive-1.0 cdla-permissive-2.0 wtfpl ecl-2.0 epl-1.0 epl-2.0 etalab-2.0 eupl-1.1
    eupl-1.2 agpl-3.0 gfdl gpl gpl-2.0 gpl-3.0 lgpl lgpl-2.1 lgpl-3.0 isc lppl-1.3c ms-pl mpl-2.0 odc-by odbl
    openrail++ osl-3.0 postgresql ofl-1.1 ncsa unlicense zlib pddl lgpl-lr deepfloyd-if-license llama2 llama3
    llama3.1 llama3.2 llama3.3 llama4 gemma""".split()
)

# Body headings (normalized: lowercase, letters and spaces only) that fill the
# model card section, best match first. "Bias, Risks, and Limitations" and
# "Out-of-Scope Use" are the Hub template's own headings.
BODY_HEADINGS = {
    "intended_uses": ["intended uses", "intended use", "direct use", "intended uses and limitations", "uses"],
    "out_of_scope_uses": ["out of scope uses", "out of scope use", "misuse and out of scope use", "out of scope"],
    "limitations": [
        "limitations", "known limitations", "bias risks and limitations", "risks and limitations",
        "limitations and bias", "bias and limitations",
    ],
}
EXPORT_HEADINGS = {
    "intended_uses": "Intended uses",
    "out_of_scope_uses": "Out-of-scope use",
    "limitations": "Bias, Risks, and Limitations",
}
TASK = {"type": "text-generation", "name": "Text Generation"}


class ModelCardError(ValueError):
    """The card cannot be imported; the message names the problem. Nothing was saved."""


# --- parsing -----------------------------------------------------------------------------------


@dataclass
class ParsedCard:
    metadata: dict
    body: str
    sections: dict[str, str] = field(default_factory=dict)


def decode_card(data: bytes) -> str:
    if len(data) > MAX_CARD_BYTES:
        raise ModelCardError(
            _("The model card is %(size)s bytes; the limit is 1 MB (%(max)s bytes).")
            % {"size": len(data), "max": MAX_CARD_BYTES}
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ModelCardError(
            _("The model card is not UTF-8 text (invalid byte at position %(pos)d). Save it as UTF-8 and try again.")
            % {"pos": exc.start}
        ) from None


def parse_card(text: str) -> ParsedCard:
    """Split the front matter from the body and check the metadata's shape.

    Steps: find the front matter with the Hub's pattern; load it with
    ``portal.parsing.load_yaml`` (``yaml.safe_load`` with depth and alias limits);
    require a mapping; check the keys this import reads;
    pick the model card texts out of the body's headings."""
    if len(text.encode("utf-8")) > MAX_CARD_BYTES:
        raise ModelCardError(_("The model card is larger than 1 MB."))
    match = FRONT_MATTER.search(text)
    metadata: object = {}
    body = text
    if match:
        body = text[match.end():]
        try:
            metadata = load_yaml(match.group(2), max_bytes=MAX_CARD_BYTES)
        except ParseError as exc:
            if exc.kind == ParseError.SYNTAX and exc.line is not None:
                # +1: the opening "---" line.
                raise ModelCardError(
                    _("The YAML front matter is not valid: %(problem)s (line %(line)d of the file).")
                    % {"problem": exc.problem, "line": exc.line + 1}
                ) from None
            if exc.kind == ParseError.SYNTAX:
                raise ModelCardError(
                    _("The YAML front matter is not valid: %(problem)s.") % {"problem": exc.problem}) from None
            raise ModelCardError(_("The YAML front matter cannot be read: %(problem)s") % {"problem": exc}) from None
        if metadata is None:
            metadata = {}
        if not isinstance(metadata, dict):
            raise ModelCardError(
                _("The YAML front matter must be a mapping of keys to values (like \"license: mit\"), not %(kind)s.")
                % {"kind": _yaml_kind(metadata)}
            )
    _check_metadata(metadata)
    return ParsedCard(metadata=metadata, body=body, sections=body_sections(body))


def _yaml_kind(value) -> str:
    if isinstance(value, list):
        return _("a list")
    if isinstance(value, str):
        return _("a text")
    return _("a %(type)s") % {"type": type(value).__name__}


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_metadata(meta: dict) -> None:
    """Refuse keys this import reads when their shape is wrong, naming the key."""
    for key in ("license", "license_name", "license_link"):
        if key in meta and meta[key] is not None and not isinstance(meta[key], str):
            raise ModelCardError(_("%(key)s must be a single text value.") % {"key": key})
        problem = text_problem(meta.get(key) or "")
        if problem:
            raise ModelCardError(_("%(key)s: %(problem)s") % {"key": key, "problem": problem})
    try:
        web_url((meta.get("license_link") or "").strip())
    except ValidationError as exc:
        raise ModelCardError(_("license_link: %(problem)s") % {"problem": " ".join(exc.messages)}) from None
    datasets = meta.get("datasets")
    if datasets is not None and not isinstance(datasets, str):
        if not isinstance(datasets, list) or not all(isinstance(d, str) for d in datasets):
            raise ModelCardError(_("datasets must be a dataset id or a list of dataset ids."))
    co2 = meta.get("co2_eq_emissions")
    if co2 is not None:
        grams = co2.get("emissions") if isinstance(co2, dict) else co2
        if not _is_number(grams) or grams < 0:
            raise ModelCardError(
                _("co2_eq_emissions must be a number of grams, or a mapping whose \"emissions\" is a number of grams.")
            )
    index = meta.get("model-index")
    if index is not None:
        _model_index_entries(index)


def _model_index_entries(index) -> list[dict]:
    """Flatten ``model-index`` into one dict per metric, checking its structure."""
    if not isinstance(index, list):
        raise ModelCardError(_("model-index must be a list of models."))
    entries = []
    for m, model in enumerate(index, start=1):
        if not isinstance(model, dict) or not isinstance(model.get("results", []), list):
            raise ModelCardError(_("model-index entry %(n)d must be a mapping with a list of results.") % {"n": m})
        for r, result in enumerate(model.get("results") or [], start=1):
            where = _("model-index entry %(m)d, result %(r)d") % {"m": m, "r": r}
            dataset = result.get("dataset") if isinstance(result, dict) else None
            if not isinstance(dataset, dict) or not (dataset.get("type") or dataset.get("name")):
                raise ModelCardError(_("%(where)s: the dataset needs a type or a name.") % {"where": where})
            metrics = result.get("metrics")
            if not isinstance(metrics, list) or not metrics:
                raise ModelCardError(_("%(where)s: metrics must be a non-empty list.") % {"where": where})
            for k, metric in enumerate(metrics, start=1):
                named = isinstance(metric, dict) and (metric.get("type") or metric.get("name"))
                if not named or "value" not in metric:
                    raise ModelCardError(
                        _("%(where)s, metric %(k)d: give a type (or name) and a value.") % {"where": where, "k": k}
                    )
                value = metric["value"]
                if not (_is_number(value) or isinstance(value, str)) or len(str(value)) > 60:
                    raise ModelCardError(
                        _("%(where)s, metric %(k)d: the value must be a number or a short text "
                          "(60 characters at most).") % {"where": where, "k": k}
                    )
                problem = text_problem(f"{metric.get('name') or metric.get('type')} {value}")
                if problem:
                    raise ModelCardError(_("%(where)s, metric %(k)d: %(problem)s")
                                         % {"where": where, "k": k, "problem": problem})
                entries.append({
                    "dataset_type": str(dataset.get("type") or ""),
                    "dataset_name": str(dataset.get("name") or ""),
                    "metric": str(metric.get("name") or metric.get("type"))[:200],
                    "value": str(value),
                })
    return entries


def _normalize_heading(title: str) -> str:
    title = title.replace("[optional]", "").lower().replace("&", " and ")
    return " ".join(re.sub(r"[^a-z]+", " ", title).split())


def _clean_text(lines: list[str]) -> str:
    """A section's text without HTML comments, placeholders, and subheadings
    left with nothing under them (the Hub template's "### Recommendations")."""
    text = HTML_COMMENT.sub("", "\n".join(lines)).replace(PLACEHOLDER, "")
    kept: list[str] = []  # built from the end, so the next line is known
    next_line: str | None = None  # the next non-blank line kept
    for line in reversed(text.splitlines()):
        heading = HEADING.match(line)
        if heading:
            following = HEADING.match(next_line) if next_line is not None else None
            if next_line is None or (following and len(following.group(1)) <= len(heading.group(1))):
                continue
        kept.append(line)
        if line.strip():
            next_line = line
    return "\n".join(reversed(kept)).strip()


def body_sections(body: str) -> dict[str, str]:
    """The model card texts found under the body's headings (subsections included).

    Headings inside fenced code blocks are ignored; HTML comments and the Hub
    template's "[More Information Needed]" placeholders are dropped."""
    lines = body.splitlines()
    headings: list[tuple[int, int, str]] = []  # (line index, level, normalized title)
    in_fence = False
    for i, line in enumerate(lines):
        if FENCE.match(line):
            in_fence = not in_fence
            continue
        match = None if in_fence else HEADING.match(line)
        if match:
            headings.append((i, len(match.group(1)), _normalize_heading(match.group(2))))
    found: dict[str, str] = {}
    for key, aliases in BODY_HEADINGS.items():
        for alias in aliases:
            for n, (start, level, title) in enumerate(headings):
                if title != alias:
                    continue
                end = next((h[0] for h in headings[n + 1:] if h[1] <= level), len(lines))
                text = _clean_text(lines[start + 1:end])
                if text:
                    found[key] = text
                    break
            if key in found:
                break
    return found


# --- import ------------------------------------------------------------------------------------


@dataclass
class ImportSummary:
    sections: list[str] = field(default_factory=list)
    benchmarks_added: list[str] = field(default_factory=list)
    benchmarks_skipped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _norm(value: str) -> str:
    return re.sub(r"[^a-z0-9]", "", value.lower())


def match_benchmark(dataset_type: str, dataset_name: str, catalogue: list[Benchmark]) -> Benchmark | None:
    """The catalogue entry whose slug or name matches the dataset's type or name,
    ignoring case and punctuation (truthful_qa -> truthfulqa); a Hub dataset id
    (owner/name) also matches by its name part."""
    by_key = {}
    for b in catalogue:
        by_key.setdefault(_norm(b.slug), b)
        by_key.setdefault(_norm(b.name), b)
    for candidate in (dataset_type, dataset_type.rsplit("/", 1)[-1], dataset_name, dataset_name.rsplit("/", 1)[-1]):
        hit = by_key.get(_norm(candidate)) if candidate else None
        if hit:
            return hit
    return None


def _decimal_text(value: Decimal) -> str:
    return format(value.normalize(), "f")


def proposed_sections(doc: Documentation | None, card: ParsedCard, summary: ImportSummary) -> dict[str, dict]:
    """The sections the card changes, each merged over what is already saved:
    fields the card does not give keep their values."""
    meta = card.metadata
    current = (doc.sections if doc else None) or {}
    changes: dict[str, dict] = {}

    model_card = dict(current.get("model_card") or {})
    model_card.update(card.sections)
    changes["model_card"] = model_card

    licence = dict(current.get("license") or {})
    license_id = (meta.get("license") or "").strip()
    if license_id.lower() == "other":
        if meta.get("license_name") or meta.get("license_link"):
            licence["spdx_id"] = ""
            if meta.get("license_name"):
                licence["custom_name"] = meta["license_name"].strip()
            if meta.get("license_link"):
                licence["custom_url"] = meta["license_link"].strip()
        else:
            summary.notes.append(
                _("The card's license is \"other\" without license_name or license_link: add it yourself."))
    elif license_id.lower() == "unknown":
        summary.notes.append(_("The card's license is \"unknown\": add the license yourself."))
    elif license_id:
        licence["spdx_id"] = license_id
    changes["license"] = licence

    training = dict(current.get("training_data") or {})
    datasets = meta.get("datasets") or []
    datasets = [datasets] if isinstance(datasets, str) else datasets
    sources = [dict(s) for s in training.get("sources") or []]
    known = {(s.get("name") or "").strip().lower() for s in sources}
    for name in datasets:
        name = name.strip()
        if name and name.lower() not in known:
            sources.append({"name": name, "kind": "", "license": "", "share_pct": None})
            known.add(name.lower())
    if datasets:
        training["sources"] = sources
    changes["training_data"] = training

    compute = dict(current.get("compute") or {})
    co2 = meta.get("co2_eq_emissions")
    if co2 is not None:
        details = co2 if isinstance(co2, dict) else {}
        grams = details.get("emissions") if details else co2
        compute["co2e_kg"] = _decimal_text(Decimal(str(grams)) / Decimal(1000))
        source = str(details.get("source") or "").strip()
        method = source or _("As reported in the model card (co2_eq_emissions); method not stated")
        location = str(details.get("geographical_location") or "").strip()
        if location:
            method = _("%(method)s; location: %(location)s") % {"method": method, "location": location}
        compute["co2e_method"] = method[:200]
        hardware = str(details.get("hardware_used") or "").strip()
        if hardware and not compute.get("accelerator_type"):
            compute["accelerator_type"] = hardware[:100]
    changes["compute"] = compute

    return {key: data for key, data in changes.items() if data != (current.get(key) or {})}


def import_card(release: Release, actor: User, raw: bytes | str, request=None) -> ImportSummary:
    """Prefill the release's documentation from a Hub model card, all or nothing.

    Steps: decode and parse (errors name the problem); check the release is
    editable; in one transaction, save each changed section and add each
    benchmark result that matches the catalogue through the documentation
    services (each writes its audit entry), then one summary audit entry."""
    text = decode_card(raw) if isinstance(raw, bytes) else raw
    card = parse_card(text)
    release_services.ensure_release_editable(release)
    summary = ImportSummary()
    catalogue = list(
        Benchmark.objects.filter(Q(established=True) | Q(proposed_by=release.organization))
        .order_by("-established", "slug")
    )
    entries = _model_index_entries(card.metadata.get("model-index") or [])
    today = timezone.localdate()
    with transaction.atomic():
        doc = Documentation.objects.select_for_update().filter(release=release).first()
        for section_id, data in proposed_sections(doc, card, summary).items():
            release_services.update_section(release, actor, section_id, data, request=request)
            summary.sections.append(section_id)
        existing = set(
            BenchmarkResult.objects.filter(release=release).values_list("benchmark__slug", "metric", "value")
        )
        for entry in entries:
            benchmark = match_benchmark(entry["dataset_type"], entry["dataset_name"], catalogue)
            label = entry["dataset_name"] or entry["dataset_type"]
            if benchmark is None:
                summary.benchmarks_skipped.append(label)
                continue
            key = (benchmark.slug, entry["metric"], entry["value"])
            if key in existing:
                continue
            release_services.add_benchmark_result(
                release, actor, request=request, benchmark=benchmark, metric=entry["metric"], value=entry["value"],
                run_date=today, run_by=BenchmarkResult.RunBy.SELF,
            )
            existing.add(key)
            summary.benchmarks_added.append(f"{benchmark.name}: {entry['metric']} = {entry['value']}")
        audit.log(
            "certification.documentation.modelcard_imported", actor=actor, obj=release,
            organization=release.organization, request=request,
            payload={"sections": summary.sections, "benchmarks_added": len(summary.benchmarks_added),
                     "benchmarks_skipped": len(summary.benchmarks_skipped)},
        )
    return summary


# --- export ------------------------------------------------------------------------------------


def card_content(release: Release) -> dict:
    """The live documentation in the shape of ``services.revision_content``
    (the keys the export reads)."""
    doc = Documentation.objects.filter(release=release).first()
    tier = None
    try:
        app = release_services.editable_application(release)
        rules = (app.framework_version if app else framework_services.version_in_force()).rules
        tier = release_services.effective_tier(release, rules)
    except framework_services.WorkflowError:
        pass
    return {
        "tier": tier,
        "organization": release.organization.slug,
        "model": {"name": release.ai_model.name, "slug": release.ai_model.slug,
                  "hub_repo_id": release.ai_model.hub_repo_id},
        "release": {"version": release.version},
        "sections": (doc.sections if doc else {}) or {},
        "benchmark_results": [
            {"benchmark": r.benchmark.slug, "metric": r.metric, "value": r.value, "harness": r.harness,
             "settings": r.settings_text, "run_date": r.run_date.isoformat(), "run_by": r.run_by}
            for r in release.benchmark_results.select_related("benchmark").order_by("benchmark__slug", "pk")
        ],
    }


def hub_license_id(spdx_id: str) -> str | None:
    """The Hub's identifier for an SPDX id (lowercase; GPL-3.0-only -> gpl-3.0), or None."""
    lid = spdx_id.strip().lower()
    if lid in HUB_LICENSES:
        return lid
    for suffix in ("-only", "-or-later", "+"):
        if lid.endswith(suffix) and lid[: -len(suffix)] in HUB_LICENSES:
            return lid[: -len(suffix)]
    return None


def _metric_value(value: str):
    """A number when the text is one (leaderboards want numbers), else the text."""
    try:
        number = Decimal(value.strip())
    except (InvalidOperation, AttributeError):
        return value
    if not number.is_finite():
        return value
    if re.fullmatch(r"[+-]?\d+", value.strip()):
        return int(number)
    return float(number)


HUB_DATASET_ID = re.compile(r"^[\w.-]+(/[\w.-]+)?$")


def card_metadata(content: dict, benchmark_names: dict[str, str]) -> dict:
    sections = content.get("sections") or {}
    meta: dict = {}
    licence = sections.get("license") or {}
    spdx = (licence.get("spdx_id") or "").strip()
    if spdx and hub_license_id(spdx):
        meta["license"] = hub_license_id(spdx)
    elif spdx or licence.get("custom_name"):
        meta["license"] = "other"
        meta["license_name"] = slugify(spdx or licence["custom_name"]) or "other"
        link = (licence.get("custom_url") or "").strip() or (f"https://spdx.org/licenses/{spdx}.html" if spdx else "")
        if link:
            meta["license_link"] = link
    datasets = [
        s["name"].strip() for s in (sections.get("training_data") or {}).get("sources") or []
        if s.get("name") and HUB_DATASET_ID.match(s["name"].strip())
    ]
    if datasets:
        meta["datasets"] = datasets
    tags = ["rai-certification"]
    if content.get("tier"):
        tags.append(f"rai-tier-{content['tier']}")
    meta["tags"] = tags
    results = content.get("benchmark_results") or []
    if results:
        meta["model-index"] = [{
            "name": content["model"]["name"],
            "results": [
                {
                    "task": dict(TASK),
                    "dataset": {"name": benchmark_names.get(r["benchmark"], r["benchmark"]), "type": r["benchmark"]},
                    "metrics": [{"type": slugify(r["metric"]).replace("-", "_") or "score",
                                 "value": _metric_value(r["value"]), "name": r["metric"]}],
                }
                for r in results
            ],
        }]
    compute = sections.get("compute") or {}
    if compute.get("co2e_kg") not in (None, ""):
        try:
            grams = Decimal(str(compute["co2e_kg"])) * 1000
        except InvalidOperation:
            grams = None
        if grams is not None and grams.is_finite():
            co2: dict = {"emissions": float(grams) if grams != grams.to_integral_value() else int(grams)}
            if compute.get("co2e_method"):
                co2["source"] = compute["co2e_method"]
            co2["training_type"] = "pre-training"
            if compute.get("accelerator_type"):
                co2["hardware_used"] = compute["accelerator_type"]
            meta["co2_eq_emissions"] = co2
    return meta


def _cell(value) -> str:
    text = "" if value is None else str(value)
    return " ".join(text.split()).replace("|", "\\|") or "—"


def _table(headers: list[str], rows: list[list]) -> list[str]:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return [*lines, ""]


def _yes(value) -> str:
    return _("yes") if value else _("no")


def card_body(content: dict, benchmark_names: dict[str, str]) -> str:
    """Every documentation section as markdown. The model-access instructions
    are left out: they are for engaged auditors and enrolled evaluators only."""
    sections = content.get("sections") or {}
    model, release = content["model"], content["release"]
    out = [f"# {model['name']} {release['version']}", ""]
    if content.get("tier"):
        out += [_("Risk tier under the certification framework: %(tier)s.") % {"tier": content["tier"]}, ""]
    # The Hub template's placeholder: import drops it, so empty stays empty.
    empty = PLACEHOLDER

    def text(value) -> str:
        return (value or "").strip() or empty

    card = sections.get("model_card") or {}
    for key in ("intended_uses", "out_of_scope_uses", "limitations"):
        out += [f"## {EXPORT_HEADINGS[key]}", "", text(card.get(key)), ""]

    training = sections.get("training_data") or {}
    out += [f"## {_('Training data')}", ""]
    sources = [s for s in training.get("sources") or [] if s.get("name")]
    if sources:
        out += _table([_("Source"), _("Kind"), _("License"), _("Share (%)")],
                      [[s.get("name"), s.get("kind"), s.get("license"), s.get("share_pct")] for s in sources])
    out += [
        f"- {_('Synthetic data share (%)')}: {_cell(training.get('synthetic_share_pct'))} "
        f"({_('basis')}: {_cell(training.get('synthetic_basis'))})",
        "", f"### {_('Filtering steps')}", "", text(training.get("filtering_steps")), "",
    ]

    results = content.get("benchmark_results") or []
    out += [f"## {_('Evaluation: safety benchmarks')}", ""]
    if results:
        run_by = dict(BenchmarkResult.RunBy.choices)
        out += _table(
            [_("Benchmark"), _("Metric"), _("Value"), _("Harness"), _("Run date"), _("Run by")],
            [[benchmark_names.get(r["benchmark"], r["benchmark"]), r["metric"], r["value"], r.get("harness"),
              r.get("run_date"), run_by.get(r.get("run_by"), r.get("run_by"))] for r in results],
        )
    else:
        out += [empty, ""]

    licence = sections.get("license") or {}
    out += [f"## {_('License')}", ""]
    if licence.get("spdx_id"):
        out.append(f"- {_('SPDX id')}: {_cell(licence['spdx_id'])}")
    if licence.get("custom_name"):
        out.append(f"- {_('License')}: [{_cell(licence['custom_name'])}]({licence.get('custom_url') or ''})")
    out += ["", f"### {_('Permitted uses')}", "", text(licence.get("permitted_uses")), "",
            f"### {_('Prohibited uses')}", "", text(licence.get("prohibited_uses")), ""]

    contact = sections.get("vulnerability_contact") or {}
    out += [f"## {_('Reporting vulnerabilities')}", "",
            f"- {_('Contact')}: {_cell(contact.get('email'))}",
            f"- {_('Disclosure policy')}: {_cell(contact.get('disclosure_policy_url'))}", ""]

    compute = sections.get("compute") or {}
    out += [f"## {_('Compute and environmental impact')}", "",
            f"- {_('Training compute (FLOPs)')}: {_cell(compute.get('training_flops'))}",
            f"- {_('Accelerator type')}: {_cell(compute.get('accelerator_type'))}",
            f"- {_('Accelerator hours')}: {_cell(compute.get('accelerator_hours'))}",
            f"- {_('Energy (kWh)')}: {_cell(compute.get('energy_kwh'))} "
            f"({_('boundary')}: {_cell(compute.get('energy_boundary'))}; "
            f"{_('estimate')}: {_yes(compute.get('energy_is_estimate'))})",
            f"- {_('Emissions (kg CO2e)')}: {_cell(compute.get('co2e_kg'))} "
            f"({_('method')}: {_cell(compute.get('co2e_method'))}; "
            f"{_('estimate')}: {_yes(compute.get('co2e_is_estimate'))})", ""]

    for key, title in (("red_teaming_report", _("Red-teaming report")), ("bias_report", _("Bias evaluation report"))):
        if key in sections:
            out += [f"## {title}", "", text(sections[key].get("summary")), ""]

    stages = [s for s in (sections.get("rollout_plan") or {}).get("stages") or [] if s.get("audience")]
    if stages:
        out += [f"## {_('Staged rollout plan')}", ""]
        out += _table([_("Audience"), _("Planned date")], [[s.get("audience"), s.get("planned_date")] for s in stages])

    assessments = (sections.get("domain_risk_assessments") or {}).get("assessments") or {}
    if any((v or "").strip() for v in assessments.values()):
        out += [f"## {_('Sensitive-domain risk assessments')}", ""]
        for domain, assessment in sorted(assessments.items()):
            out += [f"### {domain}", "", text(assessment), ""]
    return "\n".join(out).rstrip() + "\n"


def render_card(content: dict) -> str:
    """README.md text: YAML front matter the Hub accepts, then the markdown body."""
    slugs = {r["benchmark"] for r in content.get("benchmark_results") or []}
    names = dict(Benchmark.objects.filter(slug__in=slugs).values_list("slug", "name")) if slugs else {}
    meta = card_metadata(content, names)
    front = yaml.safe_dump(meta, sort_keys=False, allow_unicode=True, default_flow_style=False)
    return f"---\n{front}---\n\n{card_body(content, names)}"


def export_card(release: Release) -> str:
    return render_card(card_content(release))
