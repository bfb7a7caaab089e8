"""Shared test set-up: full mode unless a test asks for smoke mode, no test writes a learner's models into
the course folder, and the shipped checkpoints come out of the whole run byte-identical."""

import hashlib
from pathlib import Path

import pytest

SHIPPED = Path(__file__).resolve().parent.parent / "data" / "checkpoints"


def shipped_checksums() -> dict[str, str]:
    """SHA-256 of every file in data/checkpoints/, by name."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(SHIPPED.glob("*")) if p.is_file()}


@pytest.fixture(autouse=True, scope="session")
def shipped_checkpoints_stay_unchanged():
    """Fail the run if any test changed, added or removed a file in data/checkpoints/."""
    before = shipped_checksums()
    yield
    after = shipped_checksums()
    changed = sorted(name for name in set(before) | set(after) if before.get(name) != after.get(name))
    assert not changed, f"the tests changed the shipped checkpoints in data/checkpoints/: {changed}"


@pytest.fixture(autouse=True)
def full_mode(monkeypatch, tmp_path_factory):
    """Tests see full mode by default (CI sets CI=true, which would turn smoke mode on), and a learner's
    own models go to a temporary folder instead of artifacts/checkpoints/."""
    from vaecourse import train

    monkeypatch.setenv("VAECOURSE_SMOKE", "0")
    monkeypatch.delenv("VAECOURSE_DEVICE", raising=False)
    monkeypatch.setattr(train, "OWN_CHECKPOINTS", tmp_path_factory.mktemp("own_checkpoints"))


@pytest.fixture(scope="session")
def full_mnist():
    """All of MNIST, even when the run is in smoke mode (CI): the shipped models' records were measured on
    MNIST's full test set, so the tests that re-measure them need it. Loaded once for the whole run."""
    from vaecourse import data

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("VAECOURSE_SMOKE", "0")
        return data.load_mnist()
