import pytest
import torch

from vaecourse import runtime


@pytest.mark.parametrize("env, expected", [
    ({}, False),
    ({"CI": "true"}, True),
    ({"CI": "false"}, False),
    ({"VAECOURSE_SMOKE": "1"}, True),
    ({"VAECOURSE_SMOKE": "0", "CI": "true"}, False),
])
def test_smoke_switch(monkeypatch, env, expected):
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("VAECOURSE_SMOKE", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert runtime.smoke_mode() is expected
    assert runtime.full_or_smoke(full="full", smoke="smoke") == ("smoke" if expected else "full")


def test_device_choice_and_missing_gpu(monkeypatch):
    assert runtime.get_device("cpu") == torch.device("cpu")
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="no CUDA GPU is available"):
            runtime.get_device("cuda")
        monkeypatch.setenv("VAECOURSE_DEVICE", "cuda")
        with pytest.raises(RuntimeError, match="VAECOURSE_DEVICE"):
            runtime.get_device()
    assert "CPU" in runtime.describe_device(torch.device("cpu"))


def test_seeding_repeats_random_numbers():
    runtime.seed_everything(3)
    a = torch.randn(5)
    g = runtime.seed_everything(3)
    assert torch.equal(a, torch.randn(5))
    assert torch.equal(torch.rand(3, generator=g), torch.rand(3, generator=torch.Generator().manual_seed(3)))
