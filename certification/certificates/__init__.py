"""Decisions, appeals, certificates, signing keys, attestations, the registry, verification,
badges, revocations and concern reports, with the public API."""
