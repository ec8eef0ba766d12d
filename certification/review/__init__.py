"""Community review: windows, enrolment, findings, triage, responses, rejoinders and the review
gates, with their pages and API."""
