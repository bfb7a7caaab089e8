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


@pytest.mark.parametrize("word, expected", [
    ("1", True), ("true", True), ("YES", True), (" on ", True),
    ("0", False), ("false", False), ("No", False), ("off", False), ("", False),
])
def test_one_parser_for_every_yes_no_variable(monkeypatch, word, expected):
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setenv("VAECOURSE_SMOKE", word)
    assert runtime.env_flag("VAECOURSE_SMOKE") is expected and runtime.smoke_mode() is expected
    monkeypatch.delenv("VAECOURSE_SMOKE")
    monkeypatch.setenv("CI", word)
    assert runtime.smoke_mode() is expected


@pytest.mark.parametrize("name", ["VAECOURSE_SMOKE", "CI"])
def test_unknown_yes_no_words_are_rejected(monkeypatch, name):
    monkeypatch.delenv("VAECOURSE_SMOKE", raising=False)
    monkeypatch.setenv(name, "maybe")
    with pytest.raises(ValueError, match=f"{name}='maybe' is not a yes/no value: set it to one of 1, true"):
        runtime.smoke_mode()
    assert runtime.env_flag("VAECOURSE_NOT_SET_ANYWHERE", default=True) is True


@pytest.mark.parametrize("name", ["meta", "xla", "gpu", "cuda:7", "mps"])
def test_only_devices_this_machine_has_are_accepted(monkeypatch, name):
    if name in runtime.available_devices():
        pytest.skip(f"this machine has {name}")
    monkeypatch.setenv("VAECOURSE_DEVICE", name)
    with pytest.raises(RuntimeError, match=f"VAECOURSE_DEVICE='{name}' asks for a device, but .*this machine has cpu"):
        runtime.get_device()
    with pytest.raises(RuntimeError, match=f"Device '{name}' was asked for"):
        runtime.get_device(name)


def test_devices_that_exist_are_accepted(monkeypatch):
    assert runtime.available_devices()[0] == "cpu"
    for name in runtime.available_devices():
        monkeypatch.setenv("VAECOURSE_DEVICE", f" {name.upper()} ")
        assert runtime.get_device() == torch.device(name)
    monkeypatch.setenv("VAECOURSE_DEVICE", "")
    assert runtime.get_device() == runtime.get_device(None)


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
