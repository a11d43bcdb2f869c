"""MSDR-Net training end to end on a tiny variant and a tiny dataset: exact resume, DDP, overfitting, the
checkpoint and export formats, the log, and the refusals."""

import copy
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from bench.common.errors import BenchError
from bench.data import open_folder
from msdr.export import EXPORT_FORMAT
from msdr.export import main as export_main
from msdr.loss import msdr_loss, multiscale_targets
from msdr.model import MSDRNet
from msdr.optim import KerasAdam
from msdr.train import main
from msdr.train_config import TrainConfig
from msdr.training_data import TrainingPairs, epoch_order, steps_per_epoch
from msdr.validation import Validator

REPO = Path(__file__).resolve().parents[2]
TINY = ["--base-channels", "4", "--image-size", "64", "--no-progress"]


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One thread for every run here, so that runs compare bit for bit, and because the tests run beside other
    work on small CPUs, where two busy-waiting threads per process crawl."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def pairs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four smooth 72x88 images with bright streaks every ninth column: easy to learn, big enough for 64 crops."""
    root = tmp_path_factory.mktemp("tiny-pairs")
    (root / "rain").mkdir()
    (root / "norain").mkdir()
    y, x = np.mgrid[0:72, 0:88].astype(float)
    for i in range(4):
        clean = np.stack([125 + 50 * np.sin(x / (9 + 3 * i) + 2 * c) * np.cos(y / (11 + i) - c) for c in range(3)], -1)
        rainy = clean.copy()
        rainy[:, 2 * i :: 9] += 60
        Image.fromarray(clean.round().astype(np.uint8)).save(root / "norain" / f"img{i}.png")
        Image.fromarray(rainy.clip(0, 255).round().astype(np.uint8)).save(root / "rain" / f"img{i}.png")
    return root


def _train(pairs: Path, out: Path, *options: str) -> None:
    assert main(["--train-dir", str(pairs), "--out", str(out), *TINY, *options]) == 0


def _log(out: Path, event: str) -> list[dict]:
    records = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    return [r for r in records if r["event"] == event]


def _load(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


def _assert_same_tensors(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


# crop sampling with flips exercises every per-item random draw; 6 steps cross the first epoch's end (4 pairs)
CROP_RUN = ["--sampling", "crop", "--flip", "--lr", "1e-3", "--log-every", "1", "--checkpoint-every", "2"]


@pytest.fixture(scope="module")
def uninterrupted(one_thread: None, pairs: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("uninterrupted")
    _train(pairs, out, *CROP_RUN, "--steps", "6", "--val-dir", str(pairs), "--allow-overlap", "--val-every", "3")
    return out


def test_resume_is_bit_identical_to_an_uninterrupted_run(pairs: Path, uninterrupted: Path, tmp_path: Path):
    _train(pairs, tmp_path, *CROP_RUN, "--steps", "3", "--val-dir", str(pairs), "--allow-overlap", "--val-every", "3")
    assert main(["--resume", str(tmp_path / "checkpoint.pt"), "--steps", "6", "--no-progress"]) == 0
    whole, resumed = _load(uninterrupted / "checkpoint.pt"), _load(tmp_path / "checkpoint.pt")
    assert whole["step"] == resumed["step"] == 6
    _assert_same_tensors(whole["model"], resumed["model"])
    assert whole["optimizer"]["param_groups"] == resumed["optimizer"]["param_groups"]
    for index, state in whole["optimizer"]["state"].items():
        _assert_same_tensors(state, resumed["optimizer"]["state"][index])
    assert [r["samples"] for r in _log(tmp_path, "train")][-3:] == [r["samples"] for r in _log(uninterrupted, "train")][
        -3:
    ]
    assert len(resumed["history"]["commands"]) == 2


def test_checkpoint_holds_the_run_as_plain_data(uninterrupted: Path):
    checkpoint = _load(uninterrupted / "checkpoint.pt")  # weights_only: no pickled objects
    assert checkpoint["format"] == "derain-bench/msdr/checkpoint/v1"
    assert (checkpoint["step"], checkpoint["epoch"], checkpoint["steps_per_epoch"]) == (6, 1, 4)
    assert checkpoint["model_config"] == {"base_channels": 4, "image_size": 64, "faithful": True}
    assert TrainConfig.from_dict(checkpoint["config"]).sampling == "crop"
    assert isinstance(checkpoint["rng"]["torch_cpu"], torch.Tensor) and checkpoint["rng"]["torch_cuda"] is None
    assert checkpoint["datasets"]["train"][0]["fingerprint"] == checkpoint["datasets"]["val"]["fingerprint"]
    assert checkpoint["leak_check"]["allowed"] and len(checkpoint["leak_check"]["overlaps"]) == 4
    assert not any(key.startswith("module.") for key in checkpoint["model"])
    MSDRNet(**checkpoint["model_config"]).load_state_dict(checkpoint["model"], strict=True)


def test_log_has_losses_lr_timing_samples_and_validation(uninterrupted: Path, pairs: Path):
    steps = _log(uninterrupted, "train")
    assert [r["step"] for r in steps] == [1, 2, 3, 4, 5, 6]
    assert [r["epoch"] for r in steps] == [0, 0, 0, 0, 1, 1]
    last = steps[-1]
    for name, weight in {"x1_out": 1, "x2_out": 0.01, "x3_out": 0.01, "x1_out_r": 0.1}.items():
        assert last[f"weighted_{name}"] == pytest.approx(weight * last[f"l1_{name}"])
    assert last["loss"] == pytest.approx(sum(v for k, v in last.items() if k.startswith("weighted_")))
    assert last["lr"] == 1e-3 and last["seconds_per_step"] > 0
    assert sorted(s for r in steps[:4] for s in r["samples"]) == [f"dir:{pairs.name}/img{i}" for i in range(4)]
    validations = _log(uninterrupted, "val")
    assert [v["step"] for v in validations] == [3, 6] and validations[0]["mode"] == "tiles"
    assert {"psnr@matlab-double", "psnr@msdr-official"} <= validations[0].keys()
    start = _log(uninterrupted, "start")[0]
    assert start["config"]["sampling"] == "crop" and start["world_size"] == 1


class _OneTileAtATimeInTraining(torch.nn.Module):
    """The network as batch-1 training ran it: BatchNorm in training mode, each tile through it alone."""

    def __init__(self, net: MSDRNet):
        super().__init__()
        self.net = net

    def forward(self, tiles: torch.Tensor) -> SimpleNamespace:
        self.net.train()
        return SimpleNamespace(derained_1=torch.cat([self.net(tile[None]).derained_1 for tile in tiles]))


def test_validation_by_each_tile_s_own_statistics_scores_the_network_as_training_ran_it(pairs: Path):
    torch.manual_seed(0)
    net = MSDRNet(base_channels=4, image_size=64)
    for module in net.modules():  # running statistics far from any tile's
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.2, 2.0)
    before = copy.deepcopy(net.state_dict())
    dataset = open_folder(pairs)
    both = Validator(dataset, 64, "tiles", "both")(net, torch.device("cpu"))
    running = Validator(dataset, 64, "tiles")(net, torch.device("cpu"))
    as_trained = Validator(dataset, 64, "tiles")(_OneTileAtATimeInTraining(copy.deepcopy(net)), torch.device("cpu"))
    _assert_same_tensors(net.state_dict(), before)
    assert net.training and both["batchnorm"] == "both"
    for column in ("psnr@matlab-double", "psnr@msdr-official"):
        assert both[column] == running[column]
        assert both[f"tilestats_{column}"] == pytest.approx(as_trained[column], abs=0.01)
        assert abs(both[f"tilestats_{column}"] - running[column]) > 0.1


def test_training_logs_the_validation_by_both_statistics_when_asked(pairs: Path, tmp_path: Path):
    _train(pairs, tmp_path, "--steps", "2", "--val-dir", str(pairs), "--allow-overlap", "--val-batchnorm", "both")
    validation = _log(tmp_path, "val")[-1]
    assert validation["batchnorm"] == "both"
    assert {"psnr@matlab-double", "tilestats_psnr@matlab-double", "tilestats_psnr@msdr-official"} <= validation.keys()


def test_cosine_schedule_decays_the_lr_of_every_step(pairs: Path, tmp_path: Path):
    _train(pairs, tmp_path, "--lr", "1e-3", "--lr-schedule", "cosine", "--steps", "6", "--log-every", "1")
    # step k (1-based) of 6 runs at 1e-3 * (1 + cos(pi * (k - 1) / 6)) / 2
    expected = [1e-3, 9.330127e-4, 7.5e-4, 5e-4, 2.5e-4, 6.698730e-5]
    assert [r["lr"] for r in _log(tmp_path, "train")] == pytest.approx(expected)


def test_bench_train_puts_the_method_recipe_before_the_users_options(pairs: Path, tmp_path: Path):
    from bench.cli import main as bench_main

    argv = ["train", "--method", "msdr-s", "--train-dir", str(pairs), "--out", str(tmp_path), *TINY, "--steps", "1"]
    assert bench_main(argv) == 0
    config = _load(tmp_path / "checkpoint.pt")["config"]
    assert (config["sampling"], config["lr_schedule"], config["synthetic_rain"], config["lr"]) == (
        "crop",
        "cosine",
        1.0,
        1e-3,
    )
    assert config["base_channels"] == 4  # TINY's --base-channels comes after the recipe's, so it wins
    assert _log(tmp_path, "start")[0]["command"].startswith("python -m msdr.train --base-channels 8 ")


def test_the_msdr_m_command_of_the_docs_is_the_recipe_its_checkpoint_was_trained_with():
    """docs/msdr-net.md trains msdr-m by name; the committed checkpoint's run was started with msdr-s's recipe and
    overrides. Both command lines must give the same config, --no-progress aside."""
    from msdr.train_config import METHOD_RECIPES, build_parser, config_from_args

    def config(argv: list[str]) -> TrainConfig:
        return config_from_args(build_parser().parse_args(argv), None)

    exported = _load(REPO / "msdr" / "checkpoints" / "msdr-m.pt")
    recorded = shlex.split(exported["training"]["commands"][0])[3:]  # after "python -m msdr.train"
    docs = (REPO / "docs" / "msdr-net.md").read_text()
    documented = re.search(r"python -m bench train --method msdr-m (.*?)\n```", docs, re.S)
    argv = shlex.split(documented.group(1).replace("\\\n", " ").split("\n")[0])
    assert config([*METHOD_RECIPES["msdr-m"], *argv, "--no-progress"]) == config(recorded)
    assert exported["model_config"] == {"base_channels": 32, "image_size": 64, "faithful": True}


def test_export_writes_the_inference_format(uninterrupted: Path, tmp_path: Path):
    for half in (False, True):
        path = tmp_path / f"weights-{half}.pt"
        assert export_main([str(uninterrupted / "checkpoint.pt"), str(path), *(["--half"] if half else [])]) == 0
        exported = _load(path)
        assert exported["format"] == EXPORT_FORMAT
        assert exported["model_config"] == {"base_channels": 4, "image_size": 64, "faithful": True}
        dtypes = {t.dtype for t in exported["state_dict"].values() if t.is_floating_point()}
        assert dtypes == {torch.float16 if half else torch.float32}
        training = exported["training"]
        json.dumps(training)  # plain JSON
        assert (training["steps"], training["seed"], training["sampling"]) == (6, 0, "crop")
        assert training["datasets"]["train"][0]["fingerprint"] and training["final_losses"]["step"] == 6
        assert "commit" in training["git"] and training["train_seconds"] > 0
        state = {k: v.float() if v.is_floating_point() else v for k, v in exported["state_dict"].items()}
        MSDRNet(**exported["model_config"]).load_state_dict(state, strict=True)


def test_tiny_variant_overfits_four_images(pairs: Path, tmp_path: Path):
    _train(pairs, tmp_path, "--lr", "1e-2", "--steps", "48", "--log-every", "1")
    losses = np.array([r["loss"] for r in _log(tmp_path, "train")]).reshape(-1, 4).mean(1)  # per epoch
    assert losses[0] / losses[-1] > 5


def test_two_processes_share_the_data_and_match_a_mean_gradient_step(pairs: Path, tmp_path: Path):
    """torchrun with 2 CPU processes (gloo): each step trains on two different pairs, the replicas agree, and the
    weights equal a single-process Adam step on the mean of the two per-pair gradients, BatchNorm running
    statistics following rank 0's pair (DDP broadcasts rank 0's buffers at every forward)."""
    steps, seed = 4, 0
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    command += ["-m", "msdr.train", "--train-dir", str(pairs), "--out", str(tmp_path), *TINY]
    command += ["--lr", "1e-3", "--steps", str(steps), "--log-every", "1", "--checkpoint-every", "2"]
    # one thread in the workers, as in the reference: four Adam steps magnify a change of summation order
    # (another thread count) beyond the tolerance, on weights whose gradient is near zero
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run(
        command, cwd=REPO, env=env | {"OMP_NUM_THREADS": "1"}, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]

    logged = _log(tmp_path, "train")
    assert all(len(set(r["samples"])) == 2 for r in logged)  # two different pairs per step
    for epoch in range(steps // 2):
        assert sorted(s for r in logged if r["epoch"] == epoch for s in r["samples"]) == sorted(
            f"dir:{pairs.name}/img{i}" for i in range(4)
        )
    assert [r["replicas_in_sync"] for r in _log(tmp_path, "checkpoint")] == [True, True]
    checkpoint = _load(tmp_path / "checkpoint.pt")
    assert checkpoint["world_size"] == 2 and checkpoint["steps_per_epoch"] == 2

    expected = _mean_gradient_steps(pairs, steps, seed, lr=1e-3)  # one thread too (the module's fixture)
    for name, tensor in checkpoint["model"].items():
        assert torch.allclose(tensor, expected[name], rtol=1e-4, atol=1e-6), name


def _mean_gradient_steps(pairs_root: Path, steps: int, seed: int, lr: float) -> dict:
    samples = open_folder(pairs_root).samples
    data = TrainingPairs(samples, 64, "resize", seed=seed)
    torch.manual_seed(seed)
    model = MSDRNet(base_channels=4, image_size=64).train()
    optimizer = KerasAdam(model.parameters(), lr=lr, betas=(0.5, 0.999), eps=1e-7)
    per_epoch = steps_per_epoch(len(samples), 2)
    for step in range(steps):
        epoch, slot = divmod(step, per_epoch)
        order = epoch_order(len(samples), seed, epoch, 2)
        before = copy.deepcopy(model.state_dict())
        gradients, rank0_buffers = [], None
        for rank in (0, 1):
            model.load_state_dict(before)
            position = slot * 2 + rank
            rainy, clean, _ = data[(int(order[position]), epoch, position)]
            loss, _ = msdr_loss(model(rainy[None]), multiscale_targets(rainy[None], clean[None]))
            model.zero_grad()
            loss.backward()
            gradients.append([p.grad.clone() for p in model.parameters()])
            if rank == 0:
                rank0_buffers = {name: b.clone() for name, b in model.named_buffers()}
        for name, buffer in model.named_buffers():
            buffer.copy_(rank0_buffers[name])
        for p, g0, g1 in zip(model.parameters(), *gradients, strict=True):
            p.grad = (g0 + g1) / 2
        optimizer.step()
    return model.state_dict()


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a CPU-only machine")
def test_amp_is_refused_on_cpu(pairs: Path, tmp_path: Path, capsys: pytest.CaptureFixture):
    assert main(["--train-dir", str(pairs), "--out", str(tmp_path), *TINY, "--steps", "1", "--amp", "bf16"]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert error == ["error: --amp bf16 needs a CUDA device; this run is on cpu"]


def test_overlapping_training_and_validation_images_are_refused(
    pairs: Path, tmp_path: Path, capsys: pytest.CaptureFixture
):
    assert (
        main(["--train-dir", str(pairs), "--val-dir", str(pairs), "--out", str(tmp_path), *TINY, "--steps", "1"]) == 2
    )
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert "4 overlapping clean image pair(s)" in error and "--allow-overlap" in error
    assert not (tmp_path / "checkpoint.pt").exists()


def test_resume_refuses_a_changed_recipe_and_a_finished_run(uninterrupted: Path, capsys: pytest.CaptureFixture):
    checkpoint = str(uninterrupted / "checkpoint.pt")
    assert main(["--resume", checkpoint, "--steps", "8", "--lr", "0.1"]) == 2
    assert "--lr 0.1 (checkpoint: 0.001)" in capsys.readouterr().err
    assert main(["--resume", checkpoint, "--steps", "6"]) == 2
    assert "already reaches the 6 steps" in capsys.readouterr().err


def test_a_fresh_run_refuses_an_existing_output(uninterrupted: Path, pairs: Path, capsys: pytest.CaptureFixture):
    assert main(["--train-dir", str(pairs), "--out", str(uninterrupted), *TINY, "--steps", "1"]) == 2
    assert "--resume" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({}, "no training data"),
        ({"train_dirs": ("x",), "flip": True}, "--flip only applies to --sampling crop"),
        ({"train_dirs": ("x",), "image_size": 32}, "at least 64"),
        ({"train_dirs": ("x",), "base_channels": 6}, "multiple of 4"),
        ({"train_dirs": ("x",), "steps": 5, "epochs": 2}, "not both"),
        ({"train_dirs": ("x",), "amp": "fp8"}, "--amp must be one of"),
        ({"train_dirs": ("x",), "val_dataset": "a", "val_dir": "b"}, "at most one"),
    ],
)
def test_config_refuses_bad_values(options: dict, message: str):
    with pytest.raises(BenchError, match=message):
        TrainConfig(**options)


def test_config_round_trips_and_refuses_unknown_keys():
    config = TrainConfig(train_datasets=("rain100h",), check_against=("rain12",), steps=10)
    assert TrainConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    with pytest.raises(BenchError, match="unknown key"):
        TrainConfig.from_dict({**config.to_dict(), "momentum": 0.9})
