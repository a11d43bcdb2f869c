"""What a training run is: a frozen config, its command line, and how a resumed run may differ from its checkpoint.

The recipe fields (data, model, sampling, optimiser, seed, precision, determinism) are fixed for the life of a
run: `--resume` takes them from the checkpoint and refuses a command line that changes one. The remaining
fields (length, cadence, device, loader) may change when resuming: an exactly resumed run only needs the same
recipe, the same data and the same number of processes.
"""

import argparse
from dataclasses import MISSING, asdict, dataclass, fields, replace
from pathlib import Path

from bench.common.errors import BenchError
from msdr.optim import LR_SCHEDULES
from msdr.training_data import SAMPLING_MODES
from msdr.validation import VAL_BATCHNORM, VAL_MODES

AMP_DTYPES = ("bf16", "fp16")
# `python -m bench train --method NAME` = `python -m msdr.train` with these options first (later ones win).
# msdr-s and msdr-m are the small and the wider variant trained on a 2-core CPU for the committed checkpoints
# (docs/msdr-net.md); msdr-m is trained on real rain pairs only, and at a lower lr for its 4x width.
METHOD_RECIPES: dict[str, tuple[str, ...]] = {
    "msdr": (),
    "msdr-s": (
        "--base-channels", "8", "--image-size", "64", "--sampling", "crop", "--flip", "--synthetic-rain", "1.0",
        "--lr", "1e-3", "--lr-schedule", "cosine",
    ),
    "msdr-m": (
        "--base-channels", "32", "--image-size", "64", "--sampling", "crop", "--flip", "--synthetic-rain", "0",
        "--lr", "5e-4", "--lr-schedule", "cosine",
    ),
}  # fmt: skip
PAPER_EPOCHS = 350
RESUMABLE_FIELDS = frozenset(
    {
        "steps",
        "epochs",
        "val_every",
        "val_batchnorm",
        "checkpoint_every",
        "log_every",
        "device",
        "workers",
        "cache_images",
    }
)


@dataclass(frozen=True)
class TrainConfig:
    """Defaults are the official recipe for the full MSDR-Net (B201cv/MSDR-Net's Keras script; README, "MSDR-Net")."""

    train_datasets: tuple[str, ...] = ()
    train_dirs: tuple[str, ...] = ()
    val_dataset: str | None = None
    val_dir: str | None = None
    check_against: tuple[str, ...] = ()
    allow_overlap: bool = False
    base_channels: int = 64
    image_size: int = 352
    faithful: bool = True
    sampling: str = "resize"
    flip: bool = False
    synthetic_rain: float = 0.0
    lr: float = 5e-5
    lr_schedule: str = "constant"
    beta1: float = 0.5
    beta2: float = 0.999
    eps: float = 1e-7
    seed: int = 0
    amp: str | None = None
    deterministic: bool = True
    val_mode: str | None = None  # None: "resize" for --sampling resize, "tiles" for --sampling crop
    # may change when resuming
    steps: int | None = None
    epochs: int | None = None  # PAPER_EPOCHS when neither steps nor epochs is set
    val_every: int | None = None  # None: once per epoch
    val_batchnorm: str = "running"  # validate with BatchNorm's running statistics, each tile's own, or both
    checkpoint_every: int = 1000
    log_every: int = 10
    device: str = "auto"
    workers: int = 0
    cache_images: bool = False

    def __post_init__(self) -> None:
        if not (self.train_datasets or self.train_dirs):
            raise BenchError("no training data: pass --train-dataset NAME[,NAME...] and/or --train-dir PATH")
        if self.val_dataset is not None and self.val_dir is not None:
            raise BenchError("pass at most one of --val-dataset and --val-dir")
        _check_choice("--sampling", self.sampling, SAMPLING_MODES)
        _check_choice("--val-mode", self.val_mode, (None, *VAL_MODES))
        _check_choice("--val-batchnorm", self.val_batchnorm, VAL_BATCHNORM)
        _check_choice("--amp", self.amp, (None, *AMP_DTYPES))
        _check_choice("--lr-schedule", self.lr_schedule, LR_SCHEDULES)
        if self.base_channels <= 0 or self.base_channels % 4:
            raise BenchError(f"--base-channels must be a positive multiple of 4, got {self.base_channels}")
        if self.image_size < 64 or self.image_size % 32:
            # at 32 the first decoder BatchNorms see 1x1 maps, which batch-1 training cannot normalise
            raise BenchError(f"--image-size must be a multiple of 32 and at least 64, got {self.image_size}")
        if self.flip and self.sampling != "crop":
            raise BenchError("--flip only applies to --sampling crop (the paper's resize recipe has no augmentation)")
        if not 0.0 <= self.synthetic_rain <= 1.0:
            raise BenchError(f"--synthetic-rain is a probability in [0, 1], got {self.synthetic_rain}")
        if not (self.lr > 0 and self.eps > 0 and 0 <= self.beta1 < 1 and 0 <= self.beta2 < 1):
            raise BenchError("need --lr > 0, --eps > 0 and --beta1, --beta2 in [0, 1)")
        if self.seed < 0:
            raise BenchError(f"--seed must be non-negative, got {self.seed}")
        if self.steps is not None and self.epochs is not None:
            raise BenchError("pass --steps or --epochs, not both")
        for name in ("steps", "epochs", "val_every", "checkpoint_every", "log_every"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise BenchError(f"--{name.replace('_', '-')} must be positive, got {value}")
        if self.workers < 0:
            raise BenchError(f"--workers must be non-negative, got {self.workers}")

    @property
    def resolved_val_mode(self) -> str:
        return self.val_mode or ("tiles" if self.sampling == "crop" else "resize")

    @property
    def model_config(self) -> dict:
        """The arguments of MSDRNet."""
        return {"base_channels": self.base_channels, "image_size": self.image_size, "faithful": self.faithful}

    def total_steps(self, steps_per_epoch: int) -> int:
        return self.steps if self.steps is not None else (self.epochs or PAPER_EPOCHS) * steps_per_epoch

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "TrainConfig":
        unknown = sorted(set(values) - {f.name for f in fields(cls)})
        if unknown:
            raise BenchError(f"training config has unknown key(s) {', '.join(unknown)}; written by another version?")
        return cls(**{key: tuple(value) if isinstance(value, list) else value for key, value in values.items()})


def _check_choice(option: str, value: object, choices: tuple) -> None:
    if value not in choices:
        raise BenchError(f"{option} must be one of {', '.join(str(c) for c in choices if c)}, got {value!r}")


def _names(text: str) -> tuple[str, ...]:
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    if not names:
        raise argparse.ArgumentTypeError("expected one or more comma-separated names")
    return names


_DEFAULTS = {f.name: f.default for f in fields(TrainConfig) if f.default is not MISSING}


def _default(name: str) -> str:
    return f" (default: {_DEFAULTS[name]})"


def build_parser(prog: str = "python -m msdr.train") -> argparse.ArgumentParser:
    """Options left out are absent from the parsed namespace (so a resumed run can tell what was asked for)."""
    parser = argparse.ArgumentParser(
        prog=prog,
        argument_default=argparse.SUPPRESS,
        description="Train MSDR-Net or a smaller variant with the official recipe (six-output L1, Adam lr 5e-5 "
        "beta1 0.5, batch 1, 352x352 resized BGR images in [-1, 1]) on any paired dataset. Under torchrun "
        "every process trains on its own sample (effective batch = number of processes; lr is not scaled).",
    )
    data = parser.add_argument_group("data")
    data.add_argument(
        "--train-dataset", dest="train_datasets", type=_names, help="registered dataset name(s), comma-separated"
    )
    data.add_argument(
        "--train-dir", dest="train_dirs", action="append", help="a folder of pairs (layout detected); repeatable"
    )
    data.add_argument("--val-dataset", help="registered dataset scored during training")
    data.add_argument("--val-dir", help="a folder of pairs scored during training")
    data.add_argument(
        "--check-against",
        type=_names,
        help="evaluation sets whose clean images must not be among the training images: dataset names, or "
        "folders written as paths with a '/' (./mine); the validation set is always checked",
    )
    data.add_argument("--allow-overlap", action="store_true", help="train even if the leak check finds overlaps")
    data.add_argument("--mirror", type=Path, help="local mirror consulted before the network ($DERAIN_BENCH_MIRROR)")
    data.add_argument("--cache", type=Path, help="cache root ($DERAIN_BENCH_CACHE, default ~/.cache/derain-bench)")

    model = parser.add_argument_group("model")
    model.add_argument("--base-channels", type=int, help="width c (64 = the paper)" + _default("base_channels"))
    model.add_argument("--image-size", type=int, help="side S of the training images" + _default("image_size"))
    model.add_argument(
        "--faithful",
        action=argparse.BooleanOptionalAction,
        help="keep the official script's two architecture slips (--no-faithful fixes them; default: faithful)",
    )

    recipe = parser.add_argument_group("recipe")
    recipe.add_argument(
        "--sampling",
        choices=SAMPLING_MODES,
        help="resize: whole images resized to SxS (the paper); crop: random SxS windows at native resolution "
        "(derain-bench addition for small variants evaluated by tiling)" + _default("sampling"),
    )
    recipe.add_argument("--flip", action="store_true", help="with --sampling crop: random left-right flips")
    recipe.add_argument(
        "--synthetic-rain",
        type=float,
        help="probability of replacing a training pair's rainy image by light synthetic rain (bench.data.demo's "
        "generator) drawn over its clean image; not in the paper" + _default("synthetic_rain"),
    )
    recipe.add_argument("--lr", type=float, help="Adam learning rate" + _default("lr"))
    recipe.add_argument(
        "--lr-schedule",
        choices=LR_SCHEDULES,
        help="constant (the paper) or cosine decay to 0 over the run's steps (derain-bench addition)"
        + _default("lr_schedule"),
    )
    recipe.add_argument("--beta1", type=float, help=_default("beta1").strip())
    recipe.add_argument("--beta2", type=float, help=_default("beta2").strip())
    recipe.add_argument("--eps", type=float, help="Keras epsilon (added to sqrt(v))" + _default("eps"))
    recipe.add_argument("--seed", type=int, help="model init, data order, crops" + _default("seed"))
    recipe.add_argument("--amp", choices=AMP_DTYPES, help="mixed precision on CUDA (default: float32)")
    recipe.add_argument(
        "--deterministic",
        action=argparse.BooleanOptionalAction,
        help="deterministic kernels (torch.use_deterministic_algorithms; default: on)",
    )
    recipe.add_argument(
        "--val-mode", choices=VAL_MODES, help="resize (the script's evaluation) or tiles (native resolution)"
    )

    run = parser.add_argument_group("length and output (may change with --resume)")
    length = run.add_mutually_exclusive_group()
    length.add_argument("--steps", type=int, help="total optimizer steps")
    length.add_argument("--epochs", type=int, help=f"total epochs (default: {PAPER_EPOCHS}, the paper's)")
    run.add_argument("--val-every", type=int, help="steps between validations (default: once per epoch)")
    run.add_argument(
        "--val-batchnorm",
        choices=VAL_BATCHNORM,
        help="validate with BatchNorm's running statistics (as @tiled scores), each tile's own (as batch-1 "
        "training normalised and @tiled-tilestats scores), or both" + _default("val_batchnorm"),
    )
    run.add_argument("--checkpoint-every", type=int, help="steps between checkpoints" + _default("checkpoint_every"))
    run.add_argument("--log-every", type=int, help="steps between log lines" + _default("log_every"))
    run.add_argument("--device", help="auto, cpu, cuda" + _default("device"))
    run.add_argument("--workers", type=int, help="data loader processes" + _default("workers"))
    run.add_argument("--cache-images", action="store_true", help="keep decoded training images in memory")
    run.add_argument("--out", type=Path, help="output folder (required unless --resume: then the checkpoint's)")
    run.add_argument("--resume", type=Path, help="continue exactly from this checkpoint")
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


CLI_ONLY = ("mirror", "cache", "out", "resume", "no_progress")


def config_from_args(args: argparse.Namespace, saved: TrainConfig | None) -> TrainConfig:
    """A fresh run's config from the command line; or a resumed run's: the checkpoint's, with the changes allowed."""
    given = {key: value for key, value in vars(args).items() if key not in CLI_ONLY}
    if "train_dirs" in given:
        given["train_dirs"] = tuple(str(Path(p).resolve()) for p in given["train_dirs"])
    if "val_dir" in given:
        given["val_dir"] = str(Path(given["val_dir"]).resolve())
    if "check_against" in given:
        given["check_against"] = tuple(str(Path(e).resolve()) if "/" in e else e for e in given["check_against"])
    if saved is None:
        return TrainConfig(**given)
    changed = [
        f"--{key.replace('_', '-')} {value} (checkpoint: {getattr(saved, key)})"
        for key, value in given.items()
        if key not in RESUMABLE_FIELDS and value != getattr(saved, key)
    ]
    if changed:
        raise BenchError(f"--resume keeps the checkpoint's recipe, but these options differ: {'; '.join(changed)}")
    updates = {key: value for key, value in given.items() if key in RESUMABLE_FIELDS}
    if "steps" in given:
        updates["epochs"] = None
    elif "epochs" in given:
        updates["steps"] = None
    return replace(saved, **updates)
