"""The certification part of the demo story: models and releases of Acme AI and
Other Models Lab in every state of the workflow, across the four tiers.

Every demo model has a model card of its own (``MODEL_CARDS``): the other parts of the story
document their releases with ``document`` so that no two certificates show the same card."""

from __future__ import annotations

import hashlib
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from certification.releases import applications, sample
from certification.releases import services as release_services
from certification.releases.models import AIModel, Application, Release
from portal import deadlines
from portal.models import Deadline, Organization, User

S = Application.Status

# (org slug, model slug, model name, hub repo, release version, facts, target state)
STORY = [
    ("acme-ai", "acme-small", "Acme Small", "acme/acme-small", "1.0", {"parameter_count": 480_000_000}, S.CERTIFIED),
    ("acme-ai", "acme-mid", "Acme Mid", "acme/acme-mid-7b", "2.0", {"parameter_count": 7_000_000_000}, S.CERTIFIED),
    ("acme-ai", "acme-mid", "Acme Mid", "acme/acme-mid-7b", "2.1", {"parameter_count": 7_200_000_000}, S.DRAFT),
    ("acme-ai", "acme-mid", "Acme Mid", "acme/acme-mid-7b", "2.2-rc", {"parameter_count": 7_300_000_000}, S.SUBMITTED),
    ("acme-ai", "acme-large", "Acme Large", "acme/acme-large",
     "1.0", {"parameter_count": 120_000_000_000, "capabilities": ["advanced_reasoning", "code_generation"]},
     S.IN_REVIEW),
    ("acme-ai", "acme-bio", "Acme Bio", "acme/acme-bio",
     "0.9", {"parameter_count": 13_000_000_000, "sensitive_domains": ["biology"]}, S.CHANGES_REQUESTED),
    ("acme-ai", "acme-tiny", "Acme Tiny", "acme/acme-tiny", "0.1", {"parameter_count": 60_000_000}, S.WITHDRAWN),
    ("acme-ai", "acme-tiny", "Acme Tiny", "acme/acme-tiny", "0.2", {"parameter_count": 65_000_000}, S.REJECTED),
    ("acme-ai", "acme-tiny", "Acme Tiny", "acme/acme-tiny", "0.3", {"parameter_count": 70_000_000}, S.DECISION_PENDING),
    ("acme-ai", "acme-tiny", "Acme Tiny", "acme/acme-tiny", "0.4", {"parameter_count": 72_000_000}, S.LAPSED),
    ("other-models", "other-coder", "Other Coder", "othermodels/coder-1b",
     "1.0", {"parameter_count": 1_300_000_000}, S.SCREENING),
]

# Each demo model's description and model card (intended uses, out-of-scope uses, known limitations),
# by model slug: the registry and the review pages show them, so they must read as different models.
MODEL_CARDS = {
    "acme-small": ("A 480M-parameter on-device model for autocomplete and short replies.", {
        "intended_uses": "On-device autocomplete and short reply suggestions in English messaging apps.",
        "out_of_scope_uses": "Long-form writing, factual question answering, any decision about people.",
        "limitations": "Context of 512 tokens; suggestions repeat the user's own phrasing; English only."}),
    "acme-mid": ("A 7B-parameter general assistant for customer-support teams.", {
        "intended_uses": "Drafting answers to customer-support tickets for a human agent to review and send.",
        "out_of_scope_uses": "Sending replies without human review; medical, legal or financial advice.",
        "limitations": "Invents order numbers and policy details when the ticket lacks them; weaker in "
                       "languages other than English, German and Spanish."}),
    "acme-large": ("A 120B-parameter reasoning and coding model.", {
        "intended_uses": "Multi-step reasoning and code generation for professional software developers.",
        "out_of_scope_uses": "Writing malware or exploit code; autonomous operation without human review.",
        "limitations": "Generated code may contain security flaws and must be reviewed; can follow role-play "
                       "framings past its refusal training."}),
    "acme-bio": ("A life-sciences literature assistant.", {
        "intended_uses": "Summarising and searching the published biomedical literature for researchers.",
        "out_of_scope_uses": "Laboratory protocols for pathogens or toxins; clinical diagnosis or treatment.",
        "limitations": "Knowledge ends with its 2025 literature snapshot; cites retracted papers without saying "
                       "so."}),
    "acme-tiny": ("A 60-70M-parameter text classifier for content moderation queues.", {
        "intended_uses": "Ranking user reports in a content-moderation queue for human moderators.",
        "out_of_scope_uses": "Removing content or sanctioning users without a human decision.",
        "limitations": "Misses sarcasm and reclaimed slurs; trained on English forum posts only."}),
    "acme-chat": ("A 500M-parameter chat model for website help widgets.", {
        "intended_uses": "Answering visitors' questions about a website's own help pages, with citations.",
        "out_of_scope_uses": "Open-domain chat; questions the help pages do not answer.",
        "limitations": "Answers only from the pages it is given; may quote outdated pages verbatim."}),
    "acme-coder": ("A 34B-parameter code completion and review model.", {
        "intended_uses": "Code completion, test generation and review comments inside an IDE.",
        "out_of_scope_uses": "Generating code that runs without review in production or safety-critical "
                             "systems.",
        "limitations": "Suggests deprecated APIs for libraries released after mid-2025; weaker on languages "
                       "other than Python, TypeScript, Go and Java."}),
    # The lineage of issue 16 §1 (certification.certificates.demo): derivatives of certified demo models.
    "acme-coder-lite": ("A 1.3B-parameter code completion model distilled from Acme Coder 2.0.", {
        "intended_uses": "Single-line code completion on laptops without a GPU, in Python and TypeScript.",
        "out_of_scope_uses": "Code review, test generation or anything Acme Coder itself is not certified for.",
        "limitations": "Completes one line at a time; inherits its teacher's gaps on libraries released after "
                       "mid-2025."}),
    "acme-coder-lite-q4": ("Acme Coder Lite quantized to 4 bits for phones and browsers.", {
        "intended_uses": "Offline code completion in mobile and in-browser editors.",
        "out_of_scope_uses": "Anything beyond Acme Coder Lite's own intended uses.",
        "limitations": "Slightly lower accuracy than Acme Coder Lite on long identifiers; same languages."}),
    "acme-mid-support": ("A LoRA adapter for Acme Mid 7b that writes in a company's support tone.", {
        "intended_uses": "Drafting support replies in a company's house style, for an agent to review.",
        "out_of_scope_uses": "Anything Acme Mid 7b is not certified for; replies sent without review.",
        "limitations": "Only as reliable as its base model; overuses apologies."}),
    "acme-vision": ("A 40B-parameter model that reads images and documents.", {
        "intended_uses": "Extracting fields and tables from scanned invoices, forms and receipts, and describing "
                       "images for alt text.",
        "out_of_scope_uses": "Identifying people from their faces; reading medical images.",
        "limitations": "Misreads handwriting and low-resolution scans; describes people's appearance with "
                       "gendered defaults."}),
    "acme-cyber": ("A security-operations assistant for triaging alerts.", {
        "intended_uses": "Triaging SIEM alerts and explaining log excerpts to security analysts.",
        "out_of_scope_uses": "Writing exploits or malware; offensive operations against third parties.",
        "limitations": "Explains known attack techniques in detail when asked; misses novel attack patterns."}),
    "other-coder": ("A 1.3B-parameter code model for notebooks.", {
        "intended_uses": "Completing data-analysis code in Jupyter notebooks (pandas, numpy, matplotlib).",
        "out_of_scope_uses": "Application or systems programming; code for regulated environments.",
        "limitations": "Short context; often imports libraries that are not installed."}),
    "other-frontier": ("Other Models Lab's 200B-parameter frontier research model.", {
        "intended_uses": "Research assistance in the natural sciences for vetted partner institutions.",
        "out_of_scope_uses": "Public release before the audit and community review; dual-use protocol design.",
        "limitations": "Biology and security knowledge at expert level; refusal behaviour is still being "
                       "evaluated."}),
    "other-reasoner": ("A 90B-parameter model for mathematical reasoning.", {
        "intended_uses": "Step-by-step solutions to mathematics and logic problems for students and tutors.",
        "out_of_scope_uses": "Grading students' work without a teacher; formal proofs for certification.",
        "limitations": "Long derivations contain arithmetic slips; reveals its system prompt when asked to "
                       "translate it."}),
    "other-lm": ("A 13B-parameter multilingual translation model.", {
        "intended_uses": "Translating documentation and support articles between 40 European languages.",
        "out_of_scope_uses": "Legal, medical or safety-critical translation without a professional reviewer.",
        "limitations": "Drops negations in long sentences; formal register only."}),
    # The transparency report's past year (certification.transparency.demo).
    "northwind-lite": ("A 400M-parameter model for summarising meeting notes.", {
        "intended_uses": "Summarising meeting transcripts into decisions and action items.",
        "out_of_scope_uses": "Minutes with legal force; transcripts of medical consultations.",
        "limitations": "Attributes statements to the wrong speaker when voices overlap."}),
    "northwind-chat": ("A 13B-parameter assistant for internal knowledge bases.", {
        "intended_uses": "Answering employees' questions from a company's internal wiki, with links to sources.",
        "out_of_scope_uses": "HR or disciplinary decisions; questions about individual employees.",
        "limitations": "Trusts outdated wiki pages; cannot tell which of two conflicting pages is current."}),
    "northwind-coder": ("A 3B-parameter model for SQL generation.", {
        "intended_uses": "Writing SQL queries from questions in English for analysts, shown before they run.",
        "out_of_scope_uses": "Running generated statements that change data without review.",
        "limitations": "Invents column names when the schema is not in the prompt; English questions only."}),
    "finch-7b": ("A 7B-parameter model for drafting grant applications.", {
        "intended_uses": "Drafting and editing sections of research grant applications for their authors.",
        "out_of_scope_uses": "Reviewing or scoring other people's applications.",
        "limitations": "Cites plausible but non-existent papers; favours the style of English-language "
                       "funders."}),
    "finch-large": ("A 120B-parameter general assistant (rejected in its first review).", {
        "intended_uses": "General writing and analysis assistance for Blue Finch Labs' enterprise customers.",
        "out_of_scope_uses": "Advice in regulated domains; content moderation decisions.",
        "limitations": "Toxic completions under role-play prompts; gendered defaults in occupations."}),
}


def model_description(slug: str, name: str) -> str:
    return MODEL_CARDS[slug][0] if slug in MODEL_CARDS else f"{name}, a demo model."


def model_card(model: AIModel) -> dict:
    """The model's own card; a model without an entry gets one naming it, so no two cards are equal."""
    if model.slug in MODEL_CARDS:
        return MODEL_CARDS[model.slug][1]
    return {
        "intended_uses": f"{model.name}: assistant for {model.organization.name}'s own products and staff.",
        "out_of_scope_uses": "Medical, legal or financial advice; decisions about people.",
        "limitations": f"{model.name} may produce plausible but wrong statements; weaker outside English.",
    }


def document(release: Release, actor: User) -> None:
    """Complete documentation (``sample.fill_documentation``) with the model's own card."""
    sample.fill_documentation(release, actor)
    release_services.update_section(release, actor, "model_card", model_card(release.ai_model))


ORDER = [S.DRAFT, S.SUBMITTED, S.SCREENING, S.IN_REVIEW, S.DECISION_PENDING, S.CERTIFIED]


def _advance(app: Application, target: str, admin: User, staff: User) -> None:
    if target == S.DRAFT:
        return
    applications.submit_application(app, admin, signer_name=admin.display_name, signer_title="Head of Responsible AI",
                                affirmed=[1, 2, 3, 4, 5, 6])
    if target == S.WITHDRAWN:
        applications.withdraw(app, admin)
        return
    if target == S.SUBMITTED:
        return
    applications.start_screening(app, staff)
    if target == S.CHANGES_REQUESTED:
        applications.request_changes(app, staff, {
            "domain_risk_assessments": "Describe the biosecurity uplift evaluation and its mitigations.",
            "rollout_plan": "Add the dates of each stage."})
        return
    if target == S.LAPSED:
        applications.request_changes(app, staff, {"model_card": "State the known limitations in more detail."})
        # The organization never answered: run the deadline as if 60 days had passed.
        past = timezone.now() - timedelta(minutes=1)
        Deadline.objects.for_object(app).update(due_at=past, next_action_at=past)
        deadlines.sweep()
        return
    if target == S.SCREENING:
        return
    applications.accept_into_review(app, staff)
    if target == S.IN_REVIEW:
        return
    if (app.tier or 1) <= 2:
        applications.complete_review(app, staff)
    # CERTIFIED and REJECTED rows stop here too: the decision is the certificates' step
    # (``certification.certificates.demo.decide_story``).


@transaction.atomic
def load(admins: dict[str, User], staff: User) -> None:
    for org_slug, model_slug, model_name, hub, version, facts, target in STORY:
        org = Organization.objects.get(slug=org_slug)
        admin = admins[org_slug]
        model = AIModel.objects.filter(organization=org, slug=model_slug).first() or release_services.register_model(
            org, admin, name=model_name, slug=model_slug, hub_repo_id=hub, modalities=["text"],
            description=model_description(model_slug, model_name))
        if Release.objects.filter(ai_model=model, version=version).exists():
            continue
        data = {"version": version, "capabilities": [], "sensitive_domains": [], "emergent_capabilities": False,
                "emergent_description": "", **facts}
        release = release_services.create_release(model, admin, data, artifacts=[
            {"path": f"model-0000{i}-of-00002.safetensors", "size": 4_000_000_000 + i,
             "sha256": hashlib.sha256(f"{model_slug}-{version}-{i}".encode()).hexdigest()} for i in (1, 2)])
        if target != S.DRAFT:
            document(release, admin)
        else:
            release_services.update_section(release, admin, "model_card", model_card(model))
        app = applications.start_application(release, admin)
        _advance(app, target, admin, staff)


def step(story) -> None:
    load(story.admins, story.staff)
