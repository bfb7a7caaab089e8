"""Shared test set-up: run the unit tests in full mode unless a test asks for smoke mode."""

import pytest


@pytest.fixture(autouse=True)
def full_mode(monkeypatch):
    """Tests see full mode by default (CI sets CI=true, which would turn smoke mode on)."""
    monkeypatch.setenv("VAECOURSE_SMOKE", "0")
    monkeypatch.delenv("VAECOURSE_DEVICE", raising=False)
