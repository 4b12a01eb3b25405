"""Trainers: what fit receives, learning, determinism, resuming, strategy, command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from spect_tutorial import train as train_cli  # noqa: E402
from spect_tutorial import training  # noqa: E402
from spect_tutorial._files import sha256_file  # noqa: E402
from spect_tutorial.datasets import synthetic_training_set  # noqa: E402
from spect_tutorial.model import win5rb  # noqa: E402
from spect_tutorial.training import (  # noqa: E402
    TrainingConfig,
    held_out_errors,
    train_count_split,
    train_noise2noise,
    train_supervised,
)

TINY_MODEL = {"filters": 4, "kernel_size": 3, "depth": 3}
TINY = TrainingConfig(
    epochs=3,
    batch_size=8,
    steps_per_epoch=3,
    validation_steps=2,
    crop_px=(16, 16),
    seed=3,
    restore_best_weights=False,
)


@pytest.fixture(scope="module")
def data():
    return synthetic_training_set(
        n_phantoms=4, realizations=3, n_slices=3, validation_fraction=0.25
    )


def _weights(model):
    return [np.array(weight) for weight in model.get_weights()]


def _assert_same_weights(first, second):
    assert len(first) == len(second)
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a, b)


def test_config_is_validated_and_round_trips():
    config = TrainingConfig(epochs=2, crop_px=[16, 20], patience=None)
    assert config.crop_px == (16, 20)
    assert TrainingConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    for bad in (
        {"epochs": 0},
        {"batch_size": 1.5},
        {"learning_rate": 0},
        {"crop_px": (16,)},
        {"patience": 0},
        {"seed": -1},
        {"min_delta": float("nan")},
    ):
        with pytest.raises(ValueError):
            TrainingConfig(**bad)
    with pytest.raises(ValueError, match="unknown"):
        TrainingConfig.from_dict({"epochs": 2, "speed": 3})


def test_noise2noise_fit_receives_noisy_targets_only(data, tmp_path, monkeypatch):
    dataset, reference = data.noise2noise, data.reference
    served = []
    original = training._PairSequence.__getitem__

    def recording(self, step):
        batch = original(self, step)
        served.append((self.schedule.split, self.epoch, step, batch))
        return batch

    monkeypatch.setattr(training._PairSequence, "__getitem__", recording)
    config = replace(TINY, epochs=2, crop_px=None)
    train_noise2noise(dataset, model=TINY_MODEL, config=config, work_dir=tmp_path, verbose=False)
    train_batches = [item for item in served if item[0] == "train"]
    for epoch in (0, 1):
        assert {step for _, e, step, _ in train_batches if e == epoch} == {0, 1, 2}

    def unit(images):
        flat = images.reshape(len(images), -1).astype(np.float64)
        return flat / np.linalg.norm(flat, axis=1, keepdims=True)

    shape = dataset.slice_shape
    noisy = unit(np.moveaxis(dataset.images, 3, 2).reshape(-1, *shape))
    ideal = unit(reference.images.reshape(-1, *shape))
    for _, _, _, (inputs, targets) in served:
        for images in (inputs, targets):
            candidates = unit(images[..., 0])
            assert np.all((candidates @ noisy.T).max(axis=1) > 1 - 1e-6)  # a noisy slice
            assert np.all((candidates @ ideal.T).max(axis=1) < 1 - 1e-3)  # never the ideal
    # The structural guarantee: the trainer takes the noisy set, never the whole data.
    with pytest.raises(ValueError, match=r"data\.noise2noise"):
        train_noise2noise(data, model=TINY_MODEL, config=config, work_dir=tmp_path / "x")
    with pytest.raises(ValueError, match="Noise2NoiseSet"):
        train_noise2noise(reference, model=TINY_MODEL, config=config, work_dir=tmp_path / "y")


def test_supervised_targets_are_the_ideal_images_with_the_same_budget(data, tmp_path, monkeypatch):
    served = []
    original = training._PairSequence.__getitem__

    def recording(self, step):
        batch = original(self, step)
        if self.schedule.split == "train":
            served.append((self.epoch, step, self.schedule.indices(self.epoch, step), batch))
        return batch

    monkeypatch.setattr(training._PairSequence, "__getitem__", recording)
    config = replace(TINY, epochs=1, crop_px=None)
    result = train_supervised(
        data.noise2noise, data.reference, model=TINY_MODEL, config=config, work_dir=tmp_path
    )
    assert result.kind == "supervised" and result.steps == config.steps_per_epoch
    for _, _, (pairs, _), (_, targets) in served:
        p, level, s, i = pairs[0, :4]
        mean = data.noise2noise.means[p, level, i]
        np.testing.assert_allclose(targets[0, ..., 0], data.reference.images[p, s] / mean, 1e-6)
    n2n = training.PairSchedule(data.noise2noise, split="train", seed=3, batch_size=8)
    np.testing.assert_array_equal(served[0][2][0][:, :4], n2n.indices(0, 0)[0][:, :4])


def test_count_split_trainer_needs_the_count_split_set(data, tmp_path):
    with pytest.raises(ValueError, match="count_splitting=True"):
        train_count_split(data.noise2noise, model=TINY_MODEL, config=TINY, work_dir=tmp_path)
    halves = replace(
        data.noise2noise,
        images=data.noise2noise.images[:, :, :2].copy(),
        means=data.noise2noise.means[:, :, :2].copy(),
        kind="count_split",
        count_fraction=0.5,
    )
    result = train_count_split(
        halves, model=TINY_MODEL, config=replace(TINY, epochs=1), work_dir=tmp_path
    )
    assert result.kind == "count_split" and result.epochs_completed == 1


def _small_model():
    # The noise branch starts at zero (see win5rb), so the untrained network is the
    # identity and a minute of training on one core is enough to learn to denoise.
    return win5rb(filters=8, kernel_size=5, depth=5, seed=0)


def test_a_tiny_model_beats_the_noisy_input_on_held_out_phantoms(tmp_path):
    data = synthetic_training_set(n_phantoms=6, realizations=3, n_slices=4, seed=0)
    config = TrainingConfig(epochs=10, batch_size=16, learning_rate=1e-3, patience=None)
    result = train_noise2noise(
        data.noise2noise, model=_small_model, config=config, work_dir=tmp_path
    )
    errors = held_out_errors(result.model, data.noise2noise, data.reference)
    assert errors["denoised"] < 0.7 * errors["noisy"]
    assert result.history[-1]["val_loss"] < result.history[0]["val_loss"]
    history = json.loads((tmp_path / "history.json").read_text())
    assert [row["epoch"] for row in history["history"]] == list(range(1, 11))
    assert (tmp_path / "history.csv").read_text().startswith("epoch,loss,val_loss")


class _Kill(keras.callbacks.Callback):
    """Interrupts training in the middle of an epoch (like a killed kernel)."""

    def __init__(self, epoch, step):
        super().__init__()
        self.at = (epoch, step)
        self.epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if (self.epoch, batch) == self.at:
            raise KeyboardInterrupt("killed")


def _tiny_run(data, folder, config=TINY, callbacks=()):
    return train_noise2noise(
        data.noise2noise,
        model=TINY_MODEL,
        config=config,
        work_dir=folder,
        callbacks=callbacks,
        verbose=False,
    )


def test_same_seed_same_weights_and_resuming_matches_an_uninterrupted_run(data, tmp_path):
    def run(work_dir, config=TINY, callbacks=()):
        return _tiny_run(data, tmp_path / work_dir, config, callbacks)

    uninterrupted = _weights(run("a").model)
    _assert_same_weights(_weights(run("b").model), uninterrupted)
    other_seed = _weights(run("c", replace(TINY, seed=4)).model)
    assert any(not np.array_equal(x, y) for x, y in zip(other_seed, uninterrupted, strict=True))

    with pytest.raises(KeyboardInterrupt):
        run("killed", callbacks=[_Kill(epoch=1, step=1)])
    state = json.loads((tmp_path / "killed" / "checkpoint.json").read_text())
    assert state["epochs_completed"] == 1  # the interrupted epoch 2 will repeat
    resumed = run("killed")
    assert resumed.resumed_from_epoch == 1 and resumed.epochs_completed == 3
    _assert_same_weights(_weights(resumed.model), uninterrupted)

    # Asking for more epochs continues a finished training.
    run("extended", replace(TINY, epochs=1))
    _assert_same_weights(_weights(run("extended").model), uninterrupted)

    with pytest.raises(ValueError, match="different training"):
        run("extended", replace(TINY, learning_rate=1e-2))


def test_early_stopping_restores_the_best_epoch_and_stays_stopped(data, tmp_path):
    config = replace(TINY, epochs=5, patience=1, min_delta=1e9, restore_best_weights=True)

    def run():
        return train_noise2noise(
            data.noise2noise, model=TINY_MODEL, config=config, work_dir=tmp_path, verbose=False
        )

    result = run()
    assert result.stopped_early and result.epochs_completed == 2 and result.best_epoch == 1
    best_model = win5rb(**TINY_MODEL)
    best_model.compile(optimizer=keras.optimizers.Adam(), loss="mean_squared_error")
    best_model.optimizer.build(best_model.trainable_variables)
    best_model.load_weights(tmp_path / "checkpoints" / "epoch-0001.weights.h5")
    _assert_same_weights(_weights(result.model), _weights(best_model))
    again = run()
    assert again.epochs_completed == 2 and again.resumed_from_epoch == 2


def test_progress_is_one_line_per_epoch(data, tmp_path, capsys):
    train_noise2noise(
        data.noise2noise, model=TINY_MODEL, config=replace(TINY, epochs=2), work_dir=tmp_path
    )
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("noise2noise: ")
    assert lines[1].startswith("epoch   1/2  loss ") and "val_loss" in lines[1]
    assert lines[2].startswith("epoch   2/2") and len(lines) == 3


def test_strategy_rejects_a_prebuilt_model(data, tmp_path):
    import tensorflow as tf

    with pytest.raises(ValueError, match=r"strategy\.scope"):
        train_noise2noise(
            data.noise2noise,
            model=win5rb(**TINY_MODEL),
            config=TINY,
            work_dir=tmp_path,
            strategy=tf.distribute.get_strategy(),
        )


_STRATEGY_SCRIPT = textwrap.dedent(
    """
    import json, os, sys
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2
    )
    from spect_tutorial.datasets import synthetic_training_set
    from spect_tutorial.training import TrainingConfig, train_noise2noise
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    data = synthetic_training_set(n_phantoms=3, realizations=2, n_slices=2)
    config = TrainingConfig(epochs=1, batch_size=8, steps_per_epoch=2, validation_steps=1)
    result = train_noise2noise(
        data.noise2noise, model={"filters": 4, "kernel_size": 3, "depth": 3},
        config=config, work_dir=sys.argv[1], strategy=strategy, verbose=False,
    )
    print(json.dumps({
        "replicas": strategy.num_replicas_in_sync,
        "steps": result.steps,
        "loss": result.final_loss,
        "mirrored": type(result.model.weights[0].value).__name__,
    }))
    """
)


def test_mirrored_strategy_over_two_logical_cpus_in_a_subprocess(tmp_path):
    environment = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    completed = subprocess.run(
        [sys.executable, "-c", _STRATEGY_SCRIPT, str(tmp_path / "work")],
        capture_output=True,
        text=True,
        timeout=300,
        env=environment,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    report = json.loads(completed.stdout.strip().splitlines()[-1])
    assert report["replicas"] == 2 and report["steps"] == 2
    assert np.isfinite(report["loss"])
    assert "Mirrored" in report["mirrored"]


# ---------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------


def _cli_arguments(out: Path, work: Path, *extra: str) -> list[str]:
    return [
        "--config",
        "teaching",
        "--filters",
        "4",
        "--epochs",
        "1",
        "--steps-per-epoch",
        "2",
        "--validation-steps",
        "1",
        "--batch-size",
        "8",
        "--out",
        str(out),
        "--work-dir",
        str(work),
        "--name",
        "tiny",
        "--quiet",
        *extra,
    ]


def test_cli_trains_writes_a_manifest_and_refuses_to_overwrite(tmp_path, monkeypatch, capsys):
    data = synthetic_training_set(n_phantoms=3, realizations=2, n_slices=2)
    calls = []

    def fake_build(**kwargs):
        calls.append(kwargs)
        return data

    monkeypatch.setattr("spect_tutorial.datasets.build_training_set", fake_build)
    out = tmp_path / "weights"
    assert train_cli.main(_cli_arguments(out, tmp_path / "work")) == 0
    manifest = json.loads((out / "tiny.json").read_text())
    assert manifest["model_config"] == {"filters": 4, "kernel_size": 7, "depth": 5}
    assert manifest["voxel_size_mm"] == 6.4
    assert manifest["budget"] == {"steps": 2, "batch_size": 8, "crop_px": [24, 24], "crops": 16}
    assert manifest["data"]["phantom_seeds"] == data.manifest["phantom_seeds"]
    assert manifest["data"]["count_levels"] == [25.0, 100.0]
    assert len(manifest["weights_sha256"]) == 64
    assert np.isfinite(manifest["final_loss"]) and manifest["wall_time_s"] >= 0
    assert calls[0]["seed"] == 0 and calls[0]["crop_px"] == (48, 48)
    assert set(manifest["validation_mse_to_ideal"]) == {"noisy", "denoised"}
    # Where it trained (the same command gives other rounding on a GPU).
    assert manifest["devices"] == train_cli._devices(keras.backend.backend())
    assert manifest["devices"] and all(isinstance(d, str) and d for d in manifest["devices"])
    written = (out / "tiny.weights.h5").read_bytes()

    # Existing weights: refused before any data is built or any step is trained.
    assert train_cli.main(_cli_arguments(out, tmp_path / "work2")) == 1
    assert "already exist" in capsys.readouterr().err
    assert len(calls) == 1 and (out / "tiny.weights.h5").read_bytes() == written
    assert (
        train_cli.main(_cli_arguments(out, tmp_path / "work3", "--overwrite", "--seed", "1")) == 0
    )
    assert json.loads((out / "tiny.json").read_text())["training"]["config"]["seed"] == 1


def test_cli_trains_the_2_5d_variant_whose_files_load_and_denoise(tmp_path, monkeypatch):
    from spect_tutorial.inference import denoise
    from spect_tutorial.weights import load_pretrained

    data = synthetic_training_set(n_phantoms=3, realizations=2, n_slices=4)
    monkeypatch.setattr("spect_tutorial.datasets.build_training_set", lambda **kwargs: data)
    out, curve = tmp_path / "weights", tmp_path / "curve.json"
    arguments = _cli_arguments(
        out, tmp_path / "work", "--input-slices", "3", "--curve", str(curve)
    )
    assert train_cli.main(arguments) == 0
    manifest = json.loads((out / "tiny.json").read_text())
    assert manifest["model_config"] == {"filters": 4, "kernel_size": 7, "depth": 5, "channels": 3}
    assert manifest["training"]["config"]["input_slices"] == 3
    # The report and the held-out errors fed the model its neighbours, not one slice.
    assert np.isfinite(json.loads(curve.read_text())["rows"][-1]["val_nrmse_ideal"])
    assert set(manifest["validation_mse_to_ideal"]) == {"noisy", "denoised"}
    model = load_pretrained("tiny", directory=out)
    assert tuple(model.input_shape) == (None, None, None, 3)
    volume = np.random.default_rng(0).gamma(4.0, 1.0, (6, 24, 24)).astype(np.float32)
    denoised = denoise(volume, model, voxel_size_mm=6.4)
    assert denoised.shape == volume.shape and np.all(np.isfinite(denoised))


def test_cli_refuses_an_even_number_of_input_slices(tmp_path, monkeypatch, capsys):
    data = synthetic_training_set(n_phantoms=3, realizations=2, n_slices=2)
    monkeypatch.setattr("spect_tutorial.datasets.build_training_set", lambda **kwargs: data)
    with pytest.raises(SystemExit):
        train_cli.main(_cli_arguments(tmp_path / "w", tmp_path / "work", "--input-slices", "2"))
    assert "input_slices" in capsys.readouterr().err


def test_keras_callbacks_state_survives_a_kill_early_stopping_and_lr_schedule(data, tmp_path):
    # min_delta so large that no epoch after the first improves: the rate halves after
    # every epoch without improvement and early stopping ends epoch 3.
    config = replace(TINY, epochs=6, patience=2, lr_patience=1, min_delta=1e9)

    def run(work_dir, callbacks=()):
        return _tiny_run(data, tmp_path / work_dir, config, callbacks)

    whole = run("whole")
    assert whole.stopped_early and whole.epochs_completed == 3 and whole.best_epoch == 1
    rates = [row["learning_rate"] for row in whole.history]
    assert rates == pytest.approx([3e-4, 3e-4, 1.5e-4])  # each epoch's own rate
    with pytest.raises(KeyboardInterrupt):
        run("killed", callbacks=[_Kill(epoch=2, step=1)])
    resumed = run("killed")
    assert resumed.resumed_from_epoch == 2
    assert resumed.stopped_early and resumed.epochs_completed == 3 and resumed.best_epoch == 1
    assert [row["learning_rate"] for row in resumed.history] == pytest.approx(rates)
    assert [row["val_loss"] for row in resumed.history] == pytest.approx(
        [row["val_loss"] for row in whole.history], rel=1e-6
    )
    # Keras's own backup is what resumes (BackupAndRestore), kept after the end.
    assert (tmp_path / "killed" / "backup" / "latest.weights.h5").is_file()


def test_start_from_weights_and_mixed_bfloat16_are_recorded(data, tmp_path):
    start = win5rb(**TINY_MODEL, seed=9)
    path = tmp_path / "start.weights.h5"
    start.save_weights(path)
    config = replace(TINY, epochs=1, dtype_policy="mixed_bfloat16")
    result = training.train_pairs(
        training.PairSource.noise2noise(data.noise2noise),
        model=TINY_MODEL,
        config=config,
        work_dir=tmp_path / "run",
        initial_weights=path,
        verbose=False,
    )
    summary = result.summary()
    assert summary["dtype_policy"] == "mixed_bfloat16"
    assert summary["initial_weights"]["sha256"] == sha256_file(path)
    assert all(weight.dtype == "float32" for weight in result.model.weights)
    assert keras.config.dtype_policy().name == "float32"  # the global policy is restored
    # TensorFlow trains without XLA (the committed CPU runs); JAX compiles its step.
    assert result.model.jit_compile is (keras.backend.backend() == "jax")
    with pytest.raises(ValueError, match="dtype_policy"):
        TrainingConfig(dtype_policy="int8")
    with pytest.raises(ValueError, match="lr_factor"):
        TrainingConfig(lr_factor=1.0)
    with pytest.raises(ValueError, match="initial_weights"):
        training.train_pairs(
            training.PairSource.noise2noise(data.noise2noise),
            model=TINY_MODEL,
            config=config,
            work_dir=tmp_path / "other",
            initial_weights=tmp_path / "missing.weights.h5",
        )
    with pytest.raises(ValueError, match="reference"):
        training.PairSource(data.noise2noise, "supervised")


def test_cli_records_lineage_learning_curve_and_dtype_policy(tmp_path, monkeypatch):
    data = synthetic_training_set(n_phantoms=4, realizations=2, n_slices=3)
    monkeypatch.setattr("spect_tutorial.datasets.build_training_set", lambda **kwargs: data)
    out = tmp_path / "weights"
    assert train_cli.main(_cli_arguments(out, tmp_path / "work")) == 0
    first = json.loads((out / "tiny.json").read_text())
    curve = tmp_path / "curve.json"
    arguments = _cli_arguments(out, tmp_path / "work2", "--epochs", "2", "--name", "tiny2")
    arguments += ["--initial-weights", str(out / "tiny.weights.h5"), "--curve", str(curve)]
    arguments += ["--dtype-policy", "mixed_bfloat16", "--lr-patience", "1", "--plateau", "0.5"]
    arguments += ["--plateau-min-epochs", "20"]
    assert train_cli.main(arguments) == 0
    manifest = json.loads((out / "tiny2.json").read_text())
    lineage = manifest["lineage"]
    assert lineage["initial_manifest"] == "tiny.json"
    assert lineage["initial_weights"]["sha256"] == first["weights_sha256"]
    assert lineage["steps_before"] == first["budget"]["steps"] == 2
    assert lineage["total_steps"] == 2 + manifest["budget"]["steps"]
    assert manifest["dtype_policy"] == manifest["training"]["dtype_policy"] == "mixed_bfloat16"
    assert manifest["plateau_floor"] > 0 and first["plateau_floor"] is None  # noisy targets
    written = json.loads(curve.read_text())
    rows = written["rows"]
    assert written["provenance"]["command"] == manifest["command"]
    rule = {"fraction": 0.5, "min_epochs": 20, "floor": manifest["plateau_floor"]}
    assert written["plateau"] == rule
    assert not training.plateau_reached(written)  # two epochs: too early to judge
    assert [row["epoch"] for row in rows] == [1, 2] and [row["steps"] for row in rows] == [2, 4]
    assert all(0 < row["val_nrmse_ideal"] < 10 for row in rows)
    assert [r["report_val_nrmse_ideal"] for r in manifest["learning_curve"]] == pytest.approx(
        [row["val_nrmse_ideal"] for row in rows]
    )


def test_plateau_rule_compares_the_last_quarter():
    config = TrainingConfig(plateau=0.01, plateau_min_epochs=8)
    falling = [1.0 - 0.05 * epoch for epoch in range(8)]
    assert not training._on_plateau(falling, config)
    flat = [1.0, 0.8, 0.7, 0.65, 0.64, 0.639, 0.6385, 0.638]
    assert training._on_plateau(flat, config)
    assert not training._on_plateau(flat[:7], config)  # too early to judge
    assert not training._on_plateau(flat, TrainingConfig())  # off by default
    # Less its noise floor the same curve still improves by 11 % in its last quarter.
    assert not training._on_plateau(flat, config, floor=0.63)
    curve = {"plateau": {"fraction": 0.01, "min_epochs": 8, "floor": 0.63}}
    assert not training.plateau_reached({**curve, "rows": [{"val_loss": v} for v in flat]})
    curve["plateau"]["floor"] = 0.0
    assert training.plateau_reached({**curve, "rows": [{"val_loss": v} for v in flat]})


class _Pairs:
    """A validation schedule of known noise: ideal 1, input and target each of sigma 0.1."""

    steps = 20

    def batch(self, epoch: int, step: int) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng(step)
        signal = np.ones((16, 24, 24, 1))
        noise = rng.normal(0.0, 0.1, size=(2, *signal.shape))
        return signal + noise[0], signal + noise[1]


def test_noise_floor_is_the_target_variance_estimated_from_noisy_pairs():
    floor = training.noise_floor(_Pairs())
    assert floor == pytest.approx(0.01, rel=0.02)
    assert training.noise_floor(_Pairs(), noisy_targets=False) == 0.0


def test_a_kill_between_the_history_and_keras_backup_repeats_that_epoch(
    data, tmp_path, monkeypatch
):
    uninterrupted = _tiny_run(data, tmp_path / "whole")
    save = keras.callbacks.BackupAndRestore._save_model
    calls = []

    def dies_at_the_second_backup(self):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt("killed after the history, before the backup")
        save(self)

    monkeypatch.setattr(keras.callbacks.BackupAndRestore, "_save_model", dies_at_the_second_backup)
    with pytest.raises(KeyboardInterrupt):
        _tiny_run(data, tmp_path / "killed")
    state = json.loads((tmp_path / "killed" / "checkpoint.json").read_text())
    assert state["epochs_completed"] == 2  # the history got ahead of Keras's backup
    monkeypatch.setattr(keras.callbacks.BackupAndRestore, "_save_model", save)
    resumed = _tiny_run(data, tmp_path / "killed")
    assert resumed.resumed_from_epoch == 1 and resumed.epochs_completed == 3
    assert [row["epoch"] for row in resumed.history] == [1, 2, 3]
    _assert_same_weights(_weights(resumed.model), _weights(uninterrupted.model))


def test_v2_set_supervised_targets_and_ideal_report_use_the_per_level_ideal(tmp_path):
    from spect_tutorial.acquisition import SpectGeometry
    from spect_tutorial.datasets import build_training_set
    from spect_tutorial.pairs import gather_pairs

    data = build_training_set(
        n_phantoms=3,
        realizations=2,
        count_levels=(12.5, 200.0),
        seed=5,
        validation_fraction=0.34,
        crop_px=(16, 16),
        slab_half_width_mm=40.0,
        shape=(64, 64, 64),
        voxel_size_mm=6.4,
        geometry=SpectGeometry(n_views=32, n_bins=32, bin_size_mm=12.8),
        acquisition="v2",
        cache_dir=None,
    )
    levels = data.reference.level_images
    pairs = np.array([[0, 0, 1, 0, 1], [0, 1, 1, 0, 1]])
    _, targets = gather_pairs(data.noise2noise, pairs, reference=data.reference)
    means = data.noise2noise.means[0, [0, 1], 0]
    np.testing.assert_allclose(targets[0, ..., 0], levels[0, 0, 1] / means[0], rtol=1e-5)
    np.testing.assert_allclose(targets[1, ..., 0], levels[0, 1, 1] / means[1], rtol=1e-5)
    report = training.IdealReport(
        data.noise2noise, data.reference, count_levels=(12.5, 200.0), curve=tmp_path / "c.json"
    )
    result = training.train_pairs(
        training.PairSource.supervised(data.noise2noise, data.reference),
        model=TINY_MODEL,
        config=replace(TINY, epochs=1, crop_px=None),
        work_dir=tmp_path / "work",
        callbacks=[report],
        verbose=False,
    )
    (row,) = json.loads((tmp_path / "c.json").read_text())["rows"]
    assert set(row["val_nrmse_ideal_per_level"]) == {"12.5", "200"}
    assert row["val_nrmse_ideal"] == pytest.approx(result.history[0]["report_val_nrmse_ideal"])


def test_the_2_5d_variant_trains_on_adjacent_slices_with_the_same_loop(data, tmp_path):
    from spect_tutorial.pairs import gather_pairs

    pairs = np.array([[0, 0, 0, 0, 1], [0, 1, 2, 1, 0]])
    inputs, targets = gather_pairs(data.noise2noise, pairs, input_slices=3)
    flat_inputs, flat_targets = gather_pairs(data.noise2noise, pairs)
    assert inputs.shape[-1] == 3 and targets.shape[-1] == 1
    np.testing.assert_array_equal(inputs[..., 1:2], flat_inputs)  # the centre channel
    np.testing.assert_array_equal(targets, flat_targets)
    np.testing.assert_array_equal(inputs[0, ..., 0], inputs[0, ..., 1])  # edge repeated
    offsets = np.array([[1, 2], [0, 3]])
    cropped, _ = gather_pairs(
        data.noise2noise, pairs, input_slices=3, crop_px=(8, 8), offsets=offsets
    )
    np.testing.assert_array_equal(cropped[1], inputs[1, 0:8, 3:11])
    result = _tiny_run(data, tmp_path / "run", replace(TINY, epochs=1, input_slices=3))
    assert result.model.input_shape == (None, None, None, 3)
    with pytest.raises(ValueError, match="input_slices"):
        TrainingConfig(input_slices=2)
    with pytest.raises(ValueError, match="channels"):
        train_noise2noise(
            data.noise2noise,
            model={**TINY_MODEL, "channels": 1},
            config=replace(TINY, input_slices=3),
            work_dir=tmp_path / "bad",
        )


def test_load_learning_curve_checks_the_file(tmp_path):
    good = {"rows": [{"steps": 100, "val_loss": 0.3}, {"steps": 200, "val_loss": 0.29}]}
    path = tmp_path / "curve.json"
    path.write_text(json.dumps(good))
    curve = training.load_learning_curve(path)
    assert curve["rows"] == good["rows"] and len(curve["sha256"]) == 64
    with pytest.raises(ValueError, match="is not a file"):
        training.load_learning_curve(tmp_path / "missing.json")
    for bad, message in (
        ({"rows": []}, "has no 'rows'"),
        ({"rows": [{"steps": 100}]}, "lacks a number 'steps' or 'val_loss'"),
        ({"rows": [{"steps": 100, "val_loss": 0.3}] * 2}, "steps must increase"),
    ):
        path.write_text(json.dumps(bad))
        with pytest.raises(ValueError, match=message):
            training.load_learning_curve(path)
    path.write_text("{not json")
    with pytest.raises(ValueError, match=r"learning curve .* is unreadable"):
        training.load_learning_curve(path)


def test_curve_nrmse_reads_one_level_per_step_and_names_a_missing_one():
    curve = {
        "rows": [
            {"steps": 100, "val_loss": 0.5, "val_nrmse_ideal_per_level": {"25": 0.2, "100": 0.1}},
            {"steps": 200, "val_loss": 0.4},  # an epoch without the report
            {"steps": 300, "val_loss": 0.3, "val_nrmse_ideal_per_level": {"25": 0.15}},
        ]
    }
    assert training.curve_nrmse(curve) == {100: 0.2, 300: 0.15}
    assert training.curve_nrmse(curve, "100") == {100: 0.1}
    with pytest.raises(ValueError, match=r"no NRMSE at level '50' \(it reports \['100', '25'\]\)"):
        training.curve_nrmse(curve, "50")
