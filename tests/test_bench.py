"""scripts/bench_fit.py: the race to pytorch/examples' test loss is scored right (the timing itself is `make bench`)."""

import importlib.util
from pathlib import Path

import pytest
import torch

from vaecourse import models

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("bench_fit", ROOT / "scripts" / "bench_fit.py")
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)


def test_time_to_target_counts_training_seconds_until_the_first_epoch_at_the_target():
    run = {"seconds": [3.0, 2.0, 2.5, 2.0], "test_loss": [120.0, 106.0, 105.5, 104.0]}
    assert bench.time_to_target(run, 105.6) == (3, 7.5)
    assert bench.time_to_target(run, 100.0) == (None, None)


def test_race_stops_once_every_loop_reached_the_target_and_ran_the_minimum():
    x = torch.bernoulli(torch.full((256, 784), 0.1))
    loops = {name: bench.CourseLoop(models.MLPVAE(hidden=16, latent_dim=2), x, batch_size=64, lr=1e-2, seed=seed)
             for seed, name in enumerate(["a", "b"])}
    runs = bench.race(loops, x[:64], torch.device("cpu"), target=1e9, min_epochs=2, max_epochs=5)
    assert all(len(run["seconds"]) == 2 and len(run["test_loss"]) == 2 for run in runs.values())
    runs = bench.race(loops, x[:64], torch.device("cpu"), target=-1.0, min_epochs=1, max_epochs=3)
    assert all(len(run["test_loss"]) == 3 for run in runs.values())          # never reached: stops at max
    assert runs["a"]["test_loss"][-1] == pytest.approx(bench.test_loss(loops["a"].model, x[:64]))
