import pytest

from certification.models import Benchmark, FrameworkVersion
from certification.seed import seed_framework


@pytest.fixture
def framework(db):
    """Version 2025.1 (re-created: live-server tests flush the data migration's rows)."""
    seed_framework(FrameworkVersion, Benchmark)
    return FrameworkVersion.objects.get(version="2025.1")


@pytest.fixture(autouse=True)
def _private_storage(settings, tmp_path):
    settings.PRIVATE_STORAGE_ROOT = tmp_path / "private"
