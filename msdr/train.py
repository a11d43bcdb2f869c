"""Train MSDR-Net, or a smaller variant, with the official recipe on any paired dataset.

    python -m msdr.train --train-dataset rain100h --val-dataset rain12 --base-channels 16 --image-size 128 \\
        --sampling crop --steps 20000 --out runs/msdr-s
    python -m msdr.train --resume runs/msdr-s/checkpoint.pt --steps 40000     # continues exactly
    torchrun --nproc_per_node 4 -m msdr.train ...                              # DDP, one sample per process

The official Keras script's recipe is the default: six-output L1 (`msdr.loss`), Adam lr 5e-5 beta1 0.5 with
Keras's epsilon (`msdr.optim`), batch 1, images resized to S x S, BGR in [-1, 1], a seeded shuffle per epoch, no
augmentation, BatchNorm in training mode. Before training, the clean training images are compared with those
of every evaluation set (`msdr.leakage`); overlaps stop the run unless --allow-overlap.

Under torchrun each process trains on its own sample (`msdr.training_data.ShardedOrder`) and DDP averages the
gradients, so a step sees `world size` samples; lr is not scaled (the world size is recorded). BatchNorm
statistics stay per process and DDP copies rank 0's running statistics to the others at every forward. Only
rank 0 validates and writes (`msdr.trainer`).

The output folder holds `checkpoint.pt` (overwritten atomically every --checkpoint-every steps and at the end)
and `train_log.jsonl`, one JSON object per line with an "event": "start" / "resume" (config, data, leak check,
environment), "train" (step, epoch, lr, seconds_per_step, the effective batch's samples, and per output of
the script, e.g. x1_out: `l1_x1_out` and `weighted_x1_out`, and their sum `loss`, means over the processes),
"val" (PSNR), "checkpoint" and "end". A resumed run appends; steps logged after the checkpoint it resumes
from appear twice, and the later line is the one that counts.
"""

import argparse
import os
import shlex
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch

from bench.common.assets import Store
from bench.common.errors import BenchError
from bench.common.names import unknown_name
from bench.data import Dataset, dataset_names, open_dataset, open_folder
from bench.run import distributed
from bench.run.distributed import Processes
from msdr.checkpoint import CHECKPOINT_FORMAT, load_payload
from msdr.leakage import OVERLAP_THRESHOLD, find_overlaps, summarise
from msdr.train_config import TrainConfig, build_parser, config_from_args
from msdr.trainer import CHECKPOINT_NAME, LOG_NAME, Trainer, TrainingData
from msdr.training_data import check_min_size

EXIT_INPUT_ERROR = 2
EXIT_INTERRUPTED = 130


def main(argv: list[str] | None = None, prog: str = "python -m msdr.train") -> int:
    """`prog` names the command in help and usage; the training log records the equivalent `msdr.train` one."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser(prog).parse_args(argv)
    try:
        train(args, command=shlex.join(["python", "-m", "msdr.train", *argv]))
    except BenchError as exc:
        if distributed.rank_from_env() == 0:
            print(f"error: {exc}", file=sys.stderr)
        return EXIT_INPUT_ERROR
    except KeyboardInterrupt:
        print("interrupted: the last checkpoint is kept", file=sys.stderr)
        return EXIT_INTERRUPTED
    return 0


def train(args: argparse.Namespace, command: str) -> Path:
    """Run (or resume) the training that `args` (from `build_parser`) describes; returns the final checkpoint."""
    checkpoint = load_payload(args.resume, CHECKPOINT_FORMAT) if "resume" in args else None
    config = config_from_args(args, TrainConfig.from_dict(checkpoint["config"]) if checkpoint else None)
    out = _output_folder(args, checkpoint is not None)
    with _determinism(config.deterministic):
        processes = distributed.start(config.device)
        try:
            _check_amp(config, processes)
            data = _open_data(
                config, Store.from_env(cache=getattr(args, "cache", None), mirror=getattr(args, "mirror", None))
            )
            if checkpoint:
                _check_same_run(checkpoint, data, processes)
                leak_check = checkpoint["leak_check"]
            else:
                leak_check = _leak_check(config, data, processes)
            trainer = Trainer(config, data, processes, out, leak_check, command, checkpoint)
            return trainer.run(progress="no_progress" not in args)
        finally:
            distributed.stop(processes)


def _output_folder(args: argparse.Namespace, resuming: bool) -> Path:
    if resuming:
        return Path(getattr(args, "out", Path(args.resume).parent))
    if "out" not in args:
        raise BenchError("pass --out DIR for the checkpoint and the training log")
    for name in (CHECKPOINT_NAME, LOG_NAME):
        if (args.out / name).exists():
            raise BenchError(f"{args.out / name} exists: continue it with --resume, or choose another --out")
    return args.out


@contextmanager
def _determinism(deterministic: bool) -> Iterator[None]:
    """Deterministic kernels (or not) for the run; the previous switches come back after it, for callers that
    go on in the same process."""
    saved = (
        torch.are_deterministic_algorithms_enabled(),
        torch.backends.cudnn.deterministic,
        torch.backends.cudnn.benchmark,
    )
    if deterministic:  # cuBLAS reads this when CUDA starts, which is after this point
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(deterministic)
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = deterministic, not deterministic
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(saved[0])
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = saved[1:]


def _check_amp(config: TrainConfig, processes: Processes) -> None:
    if config.amp and processes.device.type != "cuda":
        raise BenchError(f"--amp {config.amp} needs a CUDA device; this run is on {processes.device.type}")
    if config.amp == "bf16" and not torch.cuda.is_bf16_supported():
        raise BenchError("--amp bf16 is not supported by this GPU; use --amp fp16")


# ---- data and the leak check ------------------------------------------------------------------------------


def _open_data(config: TrainConfig, store: Store) -> TrainingData:
    train = [open_dataset(name, store) for name in config.train_datasets]
    train += [open_folder(Path(path)) for path in config.train_dirs]
    val = None
    if config.val_dataset is not None:
        val = open_dataset(config.val_dataset, store)
    elif config.val_dir is not None:
        val = open_folder(Path(config.val_dir))
    evaluation = ([val] if val else []) + [_open_named(entry, store) for entry in config.check_against]
    unique = {dataset.fingerprint(): dataset for dataset in evaluation}
    if config.sampling == "crop":
        hint = "use a smaller --image-size or --sampling resize"
        for dataset in train:
            check_min_size(dataset.samples, config.image_size, f"training set {dataset.name}", hint)
    if val and config.resolved_val_mode == "tiles":
        hint = "use a smaller --image-size or --val-mode resize"
        check_min_size(val.samples, config.image_size, f"validation set {val.name}", hint)
    return TrainingData(train=tuple(train), val=val, evaluation=tuple(unique.values()))


def _open_named(entry: str, store: Store) -> Dataset:
    """A registered dataset, or a folder when the entry is a path with a '/'."""
    if "/" in entry:
        return open_folder(Path(entry))
    if entry not in dataset_names():
        raise unknown_name("dataset", entry, dataset_names())
    return open_dataset(entry, store)


def _leak_check(config: TrainConfig, data: TrainingData, processes: Processes) -> dict:
    """Every process computes the same answer, so every process stops on an overlap."""
    record = {"threshold_bits": OVERLAP_THRESHOLD, "checked_against": [d.name for d in data.evaluation]}
    if not data.evaluation:
        _say(processes, "leak check skipped: no --val-dataset/--val-dir or --check-against given")
        return {**record, "overlaps": [], "allowed": config.allow_overlap}
    overlaps = find_overlaps(data.train, data.evaluation)
    names = ", ".join(d.name for d in data.evaluation)
    if overlaps and not config.allow_overlap:
        raise BenchError(
            f"the training set overlaps the evaluation set(s) {names}: {summarise(overlaps)}; "
            "train on other images, or pass --allow-overlap to train anyway (its scores are then not held-out)"
        )
    _say(
        processes, f"leak check against {names}: " + (f"{summarise(overlaps)} (allowed)" if overlaps else "no overlap")
    )
    return {**record, "overlaps": [o.describe() for o in overlaps], "allowed": config.allow_overlap}


def _check_same_run(checkpoint: dict, data: TrainingData, processes: Processes) -> None:
    if checkpoint["world_size"] != processes.world_size:
        raise BenchError(
            f"the checkpoint was trained by {checkpoint['world_size']} process(es) and this run has "
            f"{processes.world_size}; resume with the same number, or the data order changes"
        )
    saved = [(d["name"], d["fingerprint"]) for d in checkpoint["datasets"]["train"]]
    now = [(d.name, d.fingerprint()) for d in data.train]
    if saved != now:
        raise BenchError(f"the training data changed since the checkpoint: {saved} then, {now} now")


def _say(processes: Processes, message: str) -> None:
    if processes.is_main:
        print(message, file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
