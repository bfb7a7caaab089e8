import pytest
import torch

from vaecourse import losses, models, train


def squared_error_loss(model, batch):
    return {"loss": losses.squared_error(model(batch), batch).mean()}


def small_problem():
    torch.manual_seed(0)
    x = torch.sigmoid(torch.randn(256, 2) @ torch.randn(2, 784))  # data on a 2-D manifold
    return x, models.MLPAutoencoder(hidden=(16,), latent_dim=2)


def test_fit_lowers_the_loss_and_records_history(capsys):
    x, ae = small_problem()
    history = train.fit(ae, x, squared_error_loss, epochs=5, batch_size=32, lr=3e-3)
    assert len(history["loss"]) == 5 and len(history["seconds"]) == 5
    assert history["loss"][-1] < history["loss"][0] * 0.8
    assert "Epoch 5/5  loss" in capsys.readouterr().out


def test_fit_with_generated_batches_and_callback(capsys):
    _, ae = small_problem()
    calls = []

    def callback(epoch, model):
        calls.append(epoch)
        return {"metric": float(epoch)}

    history = train.fit(ae, lambda n: torch.rand(n, 784), squared_error_loss, epochs=2, batch_size=8,
                        steps_per_epoch=3, callback=callback, print_every=1)
    assert calls == [1, 2] and history["metric"] == [1.0, 2.0]
    printed = capsys.readouterr().out
    assert "Step 3/6  loss" in printed and "Step 6/6" in printed and "Epoch" not in printed  # steps, not epochs
    with pytest.raises(ValueError, match="steps_per_epoch"):
        train.fit(ae, lambda n: torch.rand(n, 784), squared_error_loss, epochs=1)


def test_fit_is_reproducible():
    x, ae1 = small_problem()
    _, ae2 = small_problem()
    h1 = train.fit(ae1, x, squared_error_loss, epochs=2, verbose=False, seed=5)
    h2 = train.fit(ae2, x, squared_error_loss, epochs=2, verbose=False, seed=5)
    assert h1["loss"] == h2["loss"]


def test_fit_reports_divergence():
    x, ae = small_problem()
    with pytest.raises(FloatingPointError, match="smaller learning rate"):
        train.fit(ae, x, lambda m, b: {"loss": m(b).sum() * float("nan")}, epochs=1, verbose=False)


def test_checkpoint_round_trip(tmp_path):
    x, ae = small_problem()
    path = tmp_path / "ae.pt"
    train.save_checkpoint(path, ae, {"loss": [2.0, 1.0]}, {"note": "test"})
    fresh = models.MLPAutoencoder(hidden=(16,), latent_dim=2)
    history, meta = train.load_checkpoint(path, fresh)
    assert history == {"loss": [2.0, 1.0]} and meta == {"note": "test"}
    assert torch.equal(fresh(x[:4]), ae(x[:4]))
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind


def test_checkpoint_errors_are_friendly(tmp_path):
    ae = models.MLPAutoencoder(hidden=(16,), latent_dim=2)
    with pytest.raises(train.CheckpointError, match="No checkpoint"):
        train.load_checkpoint(tmp_path / "missing.pt", ae)
    good = tmp_path / "good.pt"
    train.save_checkpoint(good, ae)
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[:1000])
    with pytest.raises(train.CheckpointError, match="corrupt or truncated"):
        train.load_checkpoint(truncated, ae)
    with pytest.raises(train.CheckpointError, match="different model"):
        train.load_checkpoint(good, models.MLPAutoencoder(hidden=(8,), latent_dim=2))


def test_failed_save_leaves_no_half_written_file(tmp_path, monkeypatch):
    ae = models.MLPAutoencoder(hidden=(4,), latent_dim=2)

    def crash(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(KeyboardInterrupt):
        train.save_checkpoint(tmp_path / "ae.pt", ae)
    assert list(tmp_path.iterdir()) == []


def test_train_or_load(tmp_path, monkeypatch):
    x, ae = small_problem()
    path = tmp_path / "ae.pt"
    calls = []

    def train_fn():
        calls.append(1)
        return train.fit(ae, x, squared_error_loss, epochs=1, verbose=False)

    train.train_or_load(ae, path, train_fn)
    assert calls == [1] and path.exists()
    other = models.MLPAutoencoder(hidden=(16,), latent_dim=2)
    history = train.train_or_load(other, path, lambda: pytest.fail("should load, not train"))
    assert len(history["loss"]) == 1 and torch.equal(other(x[:2]), ae(x[:2]))
    monkeypatch.setenv("VAECOURSE_SMOKE", "1")
    train.train_or_load(ae, tmp_path / "smoke.pt", train_fn)
    assert not (tmp_path / "smoke.pt").exists()


def test_record_is_written_beside_its_checkpoint_and_read_back(tmp_path):
    checkpoint = tmp_path / "model.pt"
    record = {**train.provenance(3, torch.device("cpu"), "a note"), "mig": 0.5, "β": 4.0}
    assert train.save_record(checkpoint, record) == tmp_path / "model.json"
    assert train.load_record(checkpoint, "train it") == record
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.json"]  # no temporary file left behind
    assert record["device"].startswith("CPU") and record["command"].startswith("python ")
    with pytest.raises(FileNotFoundError, match="train it"):
        train.load_record(tmp_path / "other.pt", "train it")


# --- Issue 13: every setting and the data are checked before the first step ---

@pytest.mark.parametrize("settings, says", [
    ({"epochs": -3}, "epochs must be a whole number ≥ 1; got -3"),
    ({"epochs": 0}, "epochs must be"),
    ({"epochs": 2.5}, "epochs must be"),
    ({"epochs": True}, "epochs must be"),
    ({"epochs": 1, "batch_size": 0}, "batch_size must be a whole number ≥ 1; got 0"),
    ({"epochs": 1, "lr": 0.0}, "lr .* must be a positive number"),
    ({"epochs": 1, "lr": float("nan")}, "lr .* must be a positive number"),
    ({"epochs": 1, "print_every": 0}, "print_every must be"),
    ({"epochs": 1, "steps_per_epoch": 3}, "steps_per_epoch is for a batch-making function"),
])
def test_fit_rejects_settings_that_would_do_nothing_or_crash(settings, says):
    x, ae = small_problem()
    before = [p.clone() for p in ae.parameters()]
    with pytest.raises(ValueError, match=says):
        train.fit(ae, x, squared_error_loss, verbose=False, **settings)
    assert all(torch.equal(a, b) for a, b in zip(before, ae.parameters()))  # nothing was trained


@pytest.mark.parametrize("steps", [0, -1, None])
def test_fit_needs_steps_for_a_batch_function(steps):
    _, ae = small_problem()
    with pytest.raises(ValueError, match="steps_per_epoch"):
        train.fit(ae, lambda n: torch.rand(n, 784), squared_error_loss, epochs=1, steps_per_epoch=steps)


def test_fit_on_empty_data_says_so():
    _, ae = small_problem()
    with pytest.raises(ValueError, match="The training data is empty"):
        train.fit(ae, torch.empty(0, 784), squared_error_loss, epochs=1, verbose=False)


def test_fit_names_bad_data_instead_of_blaming_the_learning_rate():
    x, ae = small_problem()
    x_nan = x.clone()
    x_nan[3, 5] = float("nan")
    with pytest.raises(ValueError, match="1 NaN or infinite values") as error:
        train.fit(ae, x_nan, squared_error_loss, epochs=1, verbose=False)
    assert "learning rate cannot fix" in str(error.value)
    with pytest.raises(ValueError, match="raw pixel values .* divide by 255"):
        train.fit(ae, (x * 255).round(), squared_error_loss, epochs=1, verbose=False)
    with pytest.raises(ValueError, match="dtype torch.uint8.*x.float\\(\\) / 255"):
        train.fit(ae, (x * 255).to(torch.uint8), squared_error_loss, epochs=1, verbose=False)


def test_divergence_from_generated_bad_batches_blames_the_data():
    _, ae = small_problem()
    with pytest.raises(FloatingPointError, match="because of the data: in the last batch, the training data has"):
        train.fit(ae, lambda n: torch.full((n, 784), float("nan")), squared_error_loss, epochs=1,
                  steps_per_epoch=2, verbose=False)


def test_fit_serves_images_and_labels_together(capsys):
    x = torch.rand(50, 3)
    y = torch.arange(50)
    seen = []

    def loss_fn(model, batch):
        images, labels = batch
        seen.append((images, labels))
        assert torch.equal(images, x[labels])                      # rows stay paired through the shuffle
        return {"loss": model(images).pow(2).mean()}

    history = train.fit(torch.nn.Linear(3, 1), (x, y), loss_fn, epochs=2, batch_size=16)
    printed = capsys.readouterr().out
    assert "Epoch 2/2  loss" in printed and "Step" not in printed    # a tuple of tensors is served in epochs
    first_epoch = torch.cat([labels for _, labels in seen[:4]])
    assert len(history["loss"]) == 2 and len(seen) == 8 and sorted(first_epoch.tolist()) == list(range(50))
    with pytest.raises(ValueError, match="same length"):
        train.fit(torch.nn.Linear(3, 1), (x, y[:40]), loss_fn, epochs=1, verbose=False)
    with pytest.raises(ValueError, match="raw pixel values"):
        train.fit(torch.nn.Linear(3, 1), (x * 0 + 200.0, y), loss_fn, epochs=1, verbose=False)
