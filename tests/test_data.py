import gzip  # noqa: F401  (torchvision also reads .gz; the fake folder uses plain files)
import struct

import numpy as np
import pytest
import torch

from vaecourse import data


def write_idx(path, array: np.ndarray) -> None:
    """Write an array in MNIST's IDX format (what torchvision reads from data/MNIST/raw)."""
    magic = {1: 0x801, 3: 0x803}[array.ndim]
    with open(path, "wb") as f:
        f.write(struct.pack(">I", magic) + b"".join(struct.pack(">I", n) for n in array.shape))
        f.write(array.astype(np.uint8).tobytes())


def fake_mnist(root, n_train=60, n_test=20):
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for prefix, n in [("train", n_train), ("t10k", n_test)]:
        write_idx(raw / f"{prefix}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28)))
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", rng.integers(0, 10, n))
    return raw


def test_bundled_digits_offline(capsys):
    digits = data.load_mnist(offline=True)
    assert "bundled" in capsys.readouterr().out
    assert digits.x_train.shape == (4000, 784) and digits.x_test.shape == (1000, 784)
    assert digits.x_train.dtype == torch.float32
    assert 0.0 <= digits.x_train.min() and digits.x_train.max() <= 1.0
    assert torch.bincount(digits.y_test).tolist() == [100] * 10
    assert "bundled" in digits.source


def test_environment_variable_forces_offline(monkeypatch, tmp_path, capsys):
    fake_mnist(tmp_path)
    monkeypatch.setenv("VAECOURSE_OFFLINE", "1")
    digits = data.load_mnist(root=tmp_path)
    assert "VAECOURSE_OFFLINE" in capsys.readouterr().out
    assert len(digits.x_train) == 4000  # the cached MNIST was not used


def test_torchvision_path_with_cached_folder(tmp_path, capsys):
    fake_mnist(tmp_path, n_train=60, n_test=20)
    digits = data.load_mnist(root=tmp_path)
    assert capsys.readouterr().out == ""  # no fallback message
    assert digits.source.startswith("MNIST")
    assert digits.x_train.shape == (60, 784) and digits.x_test.shape == (20, 784)
    assert digits.y_train.dtype == torch.long


def test_no_network_falls_back_in_one_line(monkeypatch, tmp_path, capsys):
    def no_network(root, download):
        raise OSError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(data, "_load_torchvision", no_network)
    digits = data.load_mnist(root=tmp_path)
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "could not be downloaded" in out and "bundled" in out
    assert len(digits.x_train) == 4000


def test_corrupt_cache_is_reported_with_what_to_delete(tmp_path, capsys):
    raw = fake_mnist(tmp_path)
    images = raw / "train-images-idx3-ubyte"
    images.write_bytes(images.read_bytes()[:5000])  # truncated download
    digits = data.load_mnist(root=tmp_path)
    out = capsys.readouterr().out
    assert "corrupt" in out and str(tmp_path / "MNIST") in out and "delete" in out
    assert "bundled" in digits.source


def test_smoke_mode_cuts_the_data_and_skips_download(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("VAECOURSE_SMOKE", "1")
    monkeypatch.setattr(data, "_load_torchvision", lambda *a: pytest.fail("no download in smoke mode"))
    digits = data.load_mnist(root=tmp_path)
    assert "Smoke mode" in capsys.readouterr().out
    assert len(digits.x_train) == data.SMOKE_TRAIN and len(digits.x_test) == data.SMOKE_TEST


def test_batches_cover_every_image_once():
    x = torch.arange(10.0).unsqueeze(1)
    seen = torch.cat(list(data.batches(x, 3, generator=torch.Generator().manual_seed(0))))
    assert sorted(seen.squeeze(1).tolist()) == list(range(10))
    assert [len(b) for b in data.batches(x, 4, shuffle=False)] == [4, 4, 2]
    with pytest.raises(ValueError, match="batch_size"):
        next(data.batches(x, 0))


def test_binarization():
    x = torch.tensor([[0.1, 0.5, 0.9]])
    assert data.binarize(x).tolist() == [[0.0, 0.0, 1.0]]
    torch.manual_seed(0)
    draws = data.binarize_dynamic(x.expand(20000, 3))
    assert set(draws.unique().tolist()) <= {0.0, 1.0}
    assert torch.allclose(draws.mean(0), x[0], atol=0.02)
