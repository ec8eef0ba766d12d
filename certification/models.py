"""Framework versions, models, releases, applications and certificates."""
