"""Turn a training checkpoint into the weights file that inference loads.

    python -m msdr.export runs/msdr-s/checkpoint.pt weights/msdr-s.pt [--half]

The file is a dict, loadable with `torch.load(..., weights_only=True)`:
- "format": EXPORT_FORMAT;
- "model_config": {"base_channels": int, "image_size": int, "faithful": bool}, the arguments of MSDRNet;
- "state_dict": the model's tensors (float16 with --half; integer buffers stay integer). Load them with
  `MSDRNet(**model_config).load_state_dict(strict=True)` after casting floating tensors to float32;
- "training": a JSON-ready dict saying how the weights were made: command lines, seed, steps, sampling mode,
  recipe, datasets with fingerprints, leak check, wall time, last losses and validation, git commit.
"""

import argparse
import sys
from pathlib import Path

import torch

from bench.common.errors import BenchError
from msdr.checkpoint import CHECKPOINT_FORMAT, load_payload, save_atomically

EXPORT_FORMAT = "derain-bench/msdr/v1"
EXIT_INPUT_ERROR = 2


def training_record(checkpoint: dict) -> dict:
    """The JSON-ready account of a checkpoint's training that travels with exported weights."""
    config = checkpoint["config"]
    history = checkpoint["history"]
    return {
        "commands": list(history["commands"]),
        "seed": config["seed"],
        "steps": checkpoint["step"],
        "epochs": checkpoint["step"] / checkpoint["steps_per_epoch"],
        "world_size": checkpoint["world_size"],
        "effective_batch": checkpoint["world_size"],
        "sampling": config["sampling"],
        "recipe": {
            key: config[key]
            for key in (
                "lr",
                "lr_schedule",
                "beta1",
                "beta2",
                "eps",
                "flip",
                "synthetic_rain",
                "amp",
                "deterministic",
                "image_size",
            )
        },
        "datasets": checkpoint["datasets"],
        "leak_check": checkpoint["leak_check"],
        "data_order": checkpoint["data_order"],
        "train_seconds": history["train_seconds"],
        "final_losses": history["last_train"],
        "last_validation": history["last_val"],
        "git": checkpoint["git"],
        "torch": checkpoint["torch"],
    }


def export_weights(checkpoint: dict, half: bool) -> dict:
    def cast(tensor: torch.Tensor) -> torch.Tensor:
        return tensor.half() if half and tensor.is_floating_point() else tensor

    return {
        "format": EXPORT_FORMAT,
        "model_config": dict(checkpoint["model_config"]),
        "state_dict": {name: cast(tensor) for name, tensor in checkpoint["model"].items()},
        "training": training_record(checkpoint),
    }


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m msdr.export", description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", type=Path, help="a checkpoint.pt written by msdr.train")
    parser.add_argument("out", type=Path, help="the weights file to write")
    parser.add_argument("--half", action="store_true", help="store floating-point tensors as float16")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        exported = export_weights(load_payload(args.checkpoint, CHECKPOINT_FORMAT), args.half)
        save_atomically(exported, args.out)
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INPUT_ERROR
    size_mb = args.out.stat().st_size / 1e6
    print(f"{args.out}: {exported['model_config']}, step {exported['training']['steps']}, {size_mb:.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
