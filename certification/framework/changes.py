"""What changes between two framework versions, in words (issue 16 §3).

``rule_changes(old, new)`` compares two versions' rules topic by topic (tiers, classification,
requirements, attestation statements, deadline lengths, benchmarks, other numbers) and returns
sentences a person reads: "Tier 3: the certificate is valid for 180 days (was 365 days).", never
JSON. The staff publish page shows it against the version in force, the public page of a version
against the one before it. ``renewal_impact`` is what one certificate meets at renewal: its tier
under the new rules and the requirements that are new for it.

Pure functions of the two rules dicts: nothing here reads the database.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from certification.framework import tiers

# Readable names of the numbers a version holds; an unknown key reads as its words.
KEY_LABELS = {
    "label": "label",
    "auditors_required": "auditors required",
    "auditor_domain_coverage": "auditors together cover every flagged domain",
    "community_review_days": "community review window (days)",
    "approvals_required": "staff approvals required",
    "approvals_distinct_staff": "approvals by distinct staff",
    "certificate_validity_days": "certificate validity (days)",
    "organization_may_declare_higher": "an organization may declare a higher tier",
    "staff_may_raise_with_reason": "staff may raise the tier with a reason",
    "below_computed_allowed": "a tier below the computed one is allowed",
    "raise_after_submission_status": "status after a raise once submitted",
    "window_extended_to_days_from_opening": "a window extended by a raise to Tier 4 runs (days from opening)",
    "reopen_min_days": "a reopened window stays open at least (days)",
    "emergent_description_required": "a description of emergent capabilities is required",
    "min_benchmarks": "minimum number of benchmarks",
    "required_categories": "required benchmark categories",
    "custom_count_once_established": "custom benchmarks count once established",
    "min_stages": "minimum rollout stages",
    "per_flagged_domain": "one per flagged sensitive domain",
    "synthetic_share_default_basis": "default basis of the synthetic share",
    "appeal_window_days": "appeal window (days)",
    "renewal_after_months": "renewal opens after (months)",
    "public_history_days": "an acknowledged incident becomes public after (days)",
    "one_billion": "the 1 billion parameter threshold",
    "seventy_billion": "the 70 billion parameter threshold",
}

RECIPIENTS = {
    "auditor": "the auditor", "owner": "the application owner", "org_admins": "organization admins",
    "enrolled_evaluators": "enrolled evaluators", "deciding_staff": "the deciding staff",
    "accredited_person": "the auditor or evaluator", "staff": "staff",
}


def key_label(key: str) -> str:
    return _(KEY_LABELS.get(key, key.replace("_", " ")))


def value_text(value: Any) -> str:
    """A value of the rules in words: yes/no, numbers with separators, lists joined."""
    if value is True:
        return _("yes")
    if value is False:
        return _("no")
    if value is None:
        return _("none")
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, str):
        return value.replace("_", " ")
    if isinstance(value, list):
        return ", ".join(value_text(v) for v in value) or _("none")
    if isinstance(value, dict):
        if "label" in value:
            return str(value["label"])
        return "; ".join(f"{key_label(k)} {value_text(v)}" for k, v in value.items())
    return str(value)


def tiers_text(numbers) -> str:
    numbers = sorted(numbers)
    if not numbers:
        return _("no tier")
    if len(numbers) == 1:
        return _("Tier %(n)d") % {"n": numbers[0]}
    return _("Tiers %(list)s and %(last)d") % {"list": ", ".join(str(n) for n in numbers[:-1]), "last": numbers[-1]}


def days_text(n: int) -> str:
    return _("%(n)d days") % {"n": n} if n != 1 else _("1 day")


def length_text(entry: dict[str, Any]) -> str:
    """How long a §2.4 deadline runs, in words."""
    if "length_days" in entry:
        return days_text(entry["length_days"])
    if "length_days_by_tier" in entry:
        return "; ".join(
            _("%(days)s (Tier %(tier)d)") % {"days": days_text(d["days"]), "tier": d["tier"]}
            for d in entry["length_days_by_tier"]
        )
    if "length_months" in entry:
        months = entry["length_months"]
        return _("%(n)d months") % {"n": months} if months != 1 else _("1 month")
    if "length_years" in entry:
        years = entry["length_years"]
        return _("%(n)d years") % {"n": years} if years != 1 else _("1 year")
    return ""


def reminders_text(entry: dict[str, Any]) -> str:
    parts = []
    for reminder in entry.get("reminders", []):
        who = ", ".join(_(RECIPIENTS.get(r, r.replace("_", " "))) for r in reminder.get("recipients", []))
        parts.append(_("%(who)s at T-%(days)dd") % {"who": who, "days": reminder["days_before"]})
    return "; ".join(parts) or _("none")


def _was(what: str, old: Any, new: Any) -> str:
    return _("%(what)s: %(new)s (was %(old)s).") % {"what": what, "new": value_text(new), "old": value_text(old)}


def _by(items: list[dict], key: str) -> dict:
    return {item[key]: item for item in items or [] if isinstance(item, dict) and key in item}


def _compare_fields(prefix: str, old: dict, new: dict, skip: tuple = ()) -> list[str]:
    """One sentence per key whose value differs (added and removed keys included)."""
    out = []
    for key in list(old) + [k for k in new if k not in old]:
        if key in skip or old.get(key) == new.get(key):
            continue
        out.append(_was(f"{prefix}{key_label(key)}", old.get(key), new.get(key)))
    return out


def _tier_changes(old: dict, new: dict) -> list[str]:
    before, after = _by(old.get("tiers"), "tier"), _by(new.get("tiers"), "tier")
    out = []
    for tier in sorted(set(before) | set(after)):
        prefix = _("Tier %(n)d: ") % {"n": tier}
        if tier not in before:
            out.append(_("Tier %(n)d is new.") % {"n": tier})
        elif tier not in after:
            out.append(_("Tier %(n)d is removed.") % {"n": tier})
        else:
            out += _compare_fields(prefix, before[tier], after[tier], skip=("tier",))
    return out


def _rule_text(rule: dict) -> str:
    return str(rule.get("text", rule.get("id", ""))).replace("{label}", _("a listed value"))


def _classification_changes(old: dict, new: dict) -> list[str]:
    old_spec, new_spec = old.get("classification") or {}, new.get("classification") or {}
    out = []
    old_range, new_range = old_spec.get("parameter_count") or {}, new_spec.get("parameter_count") or {}
    if old_range != new_range:
        out.append(_("The parameter count is a whole number from %(min)s to %(max)s (was %(omin)s to %(omax)s).") % {
            "min": value_text(new_range.get("min")), "max": value_text(new_range.get("max")),
            "omin": value_text(old_range.get("min")), "omax": value_text(old_range.get("max"))})
    out += _compare_fields("", old_spec.get("thresholds") or {}, new_spec.get("thresholds") or {})
    for key, noun in (("capabilities", _("capability")), ("sensitive_domains", _("sensitive domain"))):
        before, after = _by(old_spec.get(key), "id"), _by(new_spec.get(key), "id")
        for option in after:
            if option not in before:
                out.append(_("New %(noun)s: %(label)s.") % {"noun": noun, "label": after[option].get("label", option)})
        for option in before:
            if option not in after:
                out.append(_("No longer a %(noun)s: %(label)s.") % {"noun": noun,
                                                                   "label": before[option].get("label", option)})
    before, after = _by(old_spec.get("rules"), "id"), _by(new_spec.get("rules"), "id")
    for rule_id, rule in after.items():
        if rule_id not in before:
            out.append(_("New rule: %(text)s It gives Tier %(tier)s.") % {"text": _rule_text(rule),
                                                                          "tier": rule.get("tier")})
            continue
        previous = before[rule_id]
        if previous.get("tier") != rule.get("tier"):
            out.append(_("%(text)s It now gives Tier %(tier)s (was Tier %(old)s).") % {
                "text": _rule_text(rule), "tier": rule.get("tier"), "old": previous.get("tier")})
        if previous.get("text") != rule.get("text"):
            out.append(_("A rule now reads: %(text)s (was: %(old)s)") % {"text": _rule_text(rule),
                                                                       "old": _rule_text(previous)})
        if previous.get("parameter_count") != rule.get("parameter_count") and previous.get("text") == rule.get("text"):
            out.append(_("The parameter bounds of the rule “%(text)s” change.") % {"text": _rule_text(rule)})
    for rule_id, rule in before.items():
        if rule_id not in after:
            out.append(_("Removed rule: %(text)s") % {"text": _rule_text(rule)})
    out += _compare_fields("", old_spec.get("tier_changes") or {}, new_spec.get("tier_changes") or {})
    if old_spec.get("emergent_description_required") != new_spec.get("emergent_description_required"):
        out.append(_was(key_label("emergent_description_required"), old_spec.get("emergent_description_required"),
                        new_spec.get("emergent_description_required")))
    return out


def _requirement_changes(old: dict, new: dict) -> list[str]:
    before, after = _by(old.get("requirements"), "id"), _by(new.get("requirements"), "id")
    out = []
    for req_id, req in after.items():
        title = req.get("title", req_id)
        if req_id not in before:
            out.append(_("New requirement “%(title)s” for %(tiers)s: %(description)s") % {
                "title": title, "tiers": tiers_text(req.get("tiers", [])), "description": req.get("description", "")})
            continue
        previous = before[req_id]
        gained = set(req.get("tiers", [])) - set(previous.get("tiers", []))
        lost = set(previous.get("tiers", [])) - set(req.get("tiers", []))
        if gained:
            out.append(_("“%(title)s” is now required for %(tiers)s too.") % {"title": title,
                                                                                      "tiers": tiers_text(gained)})
        if lost:
            out.append(_("“%(title)s” is no longer required for %(tiers)s.") % {"title": title,
                                                                                        "tiers": tiers_text(lost)})
        if previous.get("title") != req.get("title"):
            out.append(_("“%(old)s” is renamed “%(title)s”.") % {"old": previous.get("title"),
                                                                                    "title": title})
        if previous.get("description") != req.get("description"):
            out.append(_("“%(title)s” now asks for: %(description)s") % {
                "title": title, "description": req.get("description", "")})
        old_details, new_details = _by(previous.get("tier_details"), "tier"), _by(req.get("tier_details"), "tier")
        for tier in sorted(set(old_details) | set(new_details)):
            was, now = old_details.get(tier, {}).get("text"), new_details.get(tier, {}).get("text")
            if was != now and now:
                out.append(_("“%(title)s” for Tier %(tier)d: %(text)s") % {"title": title, "tier": tier,
                                                                                   "text": now})
        out += _compare_fields(_("“%(title)s”, ") % {"title": title}, previous, req,
                               skip=("id", "kind", "title", "description", "tiers", "tier_details", "fields"))
        if previous.get("fields") != req.get("fields"):
            labels = [f.get("label", f.get("id")) for f in req.get("fields") or [] if isinstance(f, dict)]
            out.append(_("“%(title)s” asks for the fields: %(fields)s.") % {
                "title": title, "fields": ", ".join(labels) or _("none")})
    for req_id, req in before.items():
        if req_id not in after:
            out.append(_("“%(title)s” is no longer required.") % {"title": req.get("title", req_id)})
    return out


def _statement_changes(old: dict, new: dict) -> list[str]:
    before, after = _by(old.get("attestation_statements"), "number"), _by(new.get("attestation_statements"), "number")
    out = []
    for number in sorted(set(before) | set(after)):
        if number not in before:
            out.append(_("New statement %(n)d, for %(tiers)s: %(text)s") % {
                "n": number, "tiers": tiers_text(after[number].get("tiers", [])), "text": after[number].get("text")})
        elif number not in after:
            out.append(_("Statement %(n)d is removed.") % {"n": number})
        else:
            if before[number].get("text") != after[number].get("text"):
                out.append(_("Statement %(n)d now reads: %(text)s") % {"n": number, "text": after[number].get("text")})
            if sorted(before[number].get("tiers", [])) != sorted(after[number].get("tiers", [])):
                out.append(_("Statement %(n)d applies to %(tiers)s (was %(old)s).") % {
                    "n": number, "tiers": tiers_text(after[number].get("tiers", [])),
                    "old": tiers_text(before[number].get("tiers", []))})
    return out


def _deadline_changes(old: dict, new: dict) -> list[str]:
    before, after = _by(old.get("deadlines"), "kind"), _by(new.get("deadlines"), "kind")
    out = []
    for kind, entry in after.items():
        title = entry.get("title") or key_label(kind)
        if kind not in before:
            out.append(_("New deadline “%(title)s”: %(length)s.") % {"title": title,
                                                                            "length": length_text(entry)})
            continue
        previous = before[kind]
        if length_text(previous) != length_text(entry):
            out.append(_("%(title)s: %(length)s (was %(old)s).") % {
                "title": title, "length": length_text(entry), "old": length_text(previous)})
        if reminders_text(previous) != reminders_text(entry):
            out.append(_("%(title)s, reminders: %(now)s (was %(old)s).") % {
                "title": title, "now": reminders_text(entry), "old": reminders_text(previous)})
        if previous.get("repeat_every_days") != entry.get("repeat_every_days"):
            out.append(_was(_("%(title)s, overdue notice repeated every (days)") % {"title": title},
                            previous.get("repeat_every_days"), entry.get("repeat_every_days")))
    for kind, entry in before.items():
        if kind not in after:
            out.append(_("The deadline “%(title)s” is removed.") % {"title": entry.get("title") or kind})
    return out


def _benchmark_changes(old: dict, new: dict) -> list[str]:
    old_b, new_b = old.get("benchmarks") or {}, new.get("benchmarks") or {}
    out = _compare_fields("", old_b, new_b, skip=("categories", "catalogue", "run_by"))
    before, after = _by(old_b.get("catalogue"), "id"), _by(new_b.get("catalogue"), "id")
    for bench_id, entry in after.items():
        if bench_id not in before:
            out.append(_("New benchmark in the catalogue: %(name)s.") % {"name": entry.get("name", bench_id)})
    for bench_id, entry in before.items():
        if bench_id not in after:
            out.append(_("Removed from the catalogue: %(name)s.") % {"name": entry.get("name", bench_id)})
    return out


def _settings_changes(old: dict, new: dict) -> list[str]:
    from certification.framework.rules import DEFAULTS

    out = []
    for section, defaults in DEFAULTS.items():
        out += _compare_fields("", {**defaults, **(old.get(section) or {})}, {**defaults, **(new.get(section) or {})})
    return out


# Titles marked for the catalogue here, translated when a page asks (rule_changes).
TOPICS = (
    ("tiers", gettext_noop("Tiers"), _tier_changes),
    ("classification", gettext_noop("Tier classification"), _classification_changes),
    ("requirements", gettext_noop("Requirements"), _requirement_changes),
    ("statements", gettext_noop("Attestation statements"), _statement_changes),
    ("deadlines", gettext_noop("Deadlines and lengths"), _deadline_changes),
    ("benchmarks", gettext_noop("Benchmarks"), _benchmark_changes),
    ("settings", gettext_noop("Other numbers"), _settings_changes),
)


def rule_changes(old: dict, new: dict) -> list[dict[str, Any]]:
    """``[{"id", "title", "items": [sentence, ...]}]`` for every topic that changes, in display order."""
    sections = []
    for topic_id, title, compare in TOPICS:
        items = compare(old or {}, new or {})
        if items:
            sections.append({"id": topic_id, "title": _(title), "items": items})
    return sections


def renewal_impact(old_rules: dict, old_tier: int, new_rules: dict, new_tier: int) -> dict[str, Any]:
    """What a certificate granted at ``old_tier`` under ``old_rules`` meets at renewal under
    ``new_rules``, where its release classifies as ``new_tier``: the tier, the requirements new
    for it, the ones that change or fall away, new attestation statements and the validity."""
    old_reqs = {r["id"]: r for r in tiers.requirements_for_tier(old_rules, old_tier)}
    new_reqs = {r["id"]: r for r in tiers.requirements_for_tier(new_rules, new_tier)}
    old_statements = {s["number"]: s for s in tiers.attestation_statements_for_tier(old_rules, old_tier)}
    new_statements = tiers.attestation_statements_for_tier(new_rules, new_tier)
    old_validity = tiers.tier_settings(old_rules, old_tier).get("certificate_validity_days")
    new_validity = tiers.tier_settings(new_rules, new_tier).get("certificate_validity_days")
    return {
        "old_tier": old_tier,
        "new_tier": new_tier,
        "tier_changes": old_tier != new_tier,
        "new_requirements": [r for rid, r in new_reqs.items() if rid not in old_reqs],
        "changed_requirements": [r for rid, r in new_reqs.items()
                                 if rid in old_reqs and (r["description"], r["detail"])
                                 != (old_reqs[rid]["description"], old_reqs[rid]["detail"])],
        "dropped_requirements": [r for rid, r in old_reqs.items() if rid not in new_reqs],
        "new_statements": [s for s in new_statements if old_statements.get(s["number"], {}).get("text") != s["text"]],
        "old_validity_days": old_validity,
        "new_validity_days": new_validity,
        "nothing_changes": (old_tier == new_tier and set(old_reqs) == set(new_reqs)
                            and all((new_reqs[r]["description"], new_reqs[r]["detail"])
                                    == (old_reqs[r]["description"], old_reqs[r]["detail"]) for r in new_reqs)
                            and all(old_statements.get(s["number"], {}).get("text") == s["text"]
                                    for s in new_statements)
                            and old_validity == new_validity),
    }
