"""Models, releases, artifacts, documentation, the checklist, evidence, model cards, and the
application workflow up to the decision, with their pages and API."""
