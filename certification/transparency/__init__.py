"""The annual transparency report: figures, rollups, drafts and published snapshots."""
