"""The training loop of one process: model, optimizer, data order, logging, validation and checkpoints.

Under DDP each process trains on its own sample and DDP averages the gradients; only rank 0 validates and
writes. Everything a step depends on is in the checkpoint (`Trainer.checkpoint`) or derived from the global
step (`msdr.training_data`), so a resumed run continues bit for bit.
"""

import json
import sys
import time
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader
from tqdm import tqdm

from bench.common.checkout import git_state
from bench.common.errors import BenchError
from bench.data import Dataset
from bench.run.distributed import Processes, barrier
from bench.run.provenance import environment
from msdr import distributed
from msdr.checkpoint import CHECKPOINT_FORMAT, capture_rng, restore_rng, save_atomically
from msdr.loss import LOSS_WEIGHTS, SCRIPT_NAMES, msdr_loss, multiscale_targets
from msdr.model import MSDRNet
from msdr.optim import KerasAdam, scheduled_lr
from msdr.train_config import TrainConfig
from msdr.training_data import ShardedOrder, TrainingPairs, steps_per_epoch
from msdr.validation import Validator

CHECKPOINT_NAME = "checkpoint.pt"
LOG_NAME = "train_log.jsonl"
DATA_ORDER = (
    "stateless: epoch e visits numpy.random.default_rng((seed, e)).permutation(n), padded to a multiple of the "
    "world size; process r takes positions r, r + W, ...; crops, flips and synthetic rain are drawn from "
    "default_rng((seed, e, position))"
)
_AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass(frozen=True)
class TrainingData:
    """The opened datasets of a run."""

    train: tuple[Dataset, ...]
    val: Dataset | None
    evaluation: tuple[Dataset, ...]  # checked for overlap with the training images (the val set included)

    @property
    def samples(self) -> list:
        return [sample for dataset in self.train for sample in dataset.samples]

    @cached_property  # works on a frozen dataclass: it writes the instance __dict__ directly
    def sample_names(self) -> list[str]:
        return [f"{dataset.name}/{sample.name}" for dataset in self.train for sample in dataset.samples]

    def record(self) -> dict:
        """Names, folders, sizes and fingerprints, as checkpoints and logs keep them."""

        def one(dataset: Dataset) -> dict:
            return {
                "name": dataset.name,
                "root": str(dataset.root),
                "n": len(dataset.samples),
                "complete": dataset.complete,
                "fingerprint": dataset.fingerprint(),
            }

        return {
            "train": [one(d) for d in self.train],
            "val": one(self.val) if self.val else None,
            "checked_against": [one(d) for d in self.evaluation],
        }


class Trainer:
    """Built fresh (`checkpoint=None`) or from a checkpoint; `run` trains up to the config's total steps."""

    def __init__(
        self,
        config: TrainConfig,
        data: TrainingData,
        processes: Processes,
        out: Path,
        leak_check: dict,
        command: str,
        checkpoint: dict | None = None,
    ):
        self.config, self.data, self.processes, self.out, self.leak_check = config, data, processes, out, leak_check
        self.device = processes.device
        self.per_epoch = steps_per_epoch(len(data.samples), processes.world_size)
        self.total = config.total_steps(self.per_epoch)
        self.step = checkpoint["step"] if checkpoint else 0
        if self.step >= self.total:
            raise BenchError(
                f"the checkpoint is at step {self.step}, which already reaches the {self.total} steps asked for"
            )

        torch.manual_seed(config.seed)
        self.model = MSDRNet(**config.model_config).to(self.device).train()
        self.optimizer = KerasAdam(
            self.model.parameters(), lr=config.lr, betas=(config.beta1, config.beta2), eps=config.eps
        )
        self.scaler = torch.amp.GradScaler("cuda") if config.amp == "fp16" else None
        self.history = {"commands": [command], "train_seconds": 0.0, "last_train": None, "last_val": None}
        if checkpoint:
            self._restore(checkpoint, command)
        self.net = self.model
        if processes.world_size > 1:
            device_ids = [self.device.index] if self.device.type == "cuda" else None
            self.net = DistributedDataParallel(self.model, device_ids=device_ids)

        self.log = _JsonLines(out / LOG_NAME) if processes.is_main else None
        self.validator = None
        if data.val and processes.is_main:
            self.validator = Validator(data.val, config.image_size, config.resolved_val_mode, config.val_batchnorm)
        self._seconds_before = self.history["train_seconds"]
        self._started = self._last_log_time = time.perf_counter()
        self._last_log_step = self.step
        self._log_event("resume" if checkpoint else "start", command=command)

    def _restore(self, checkpoint: dict, command: str) -> None:
        self.model.load_state_dict(checkpoint["model"])
        self.optimizer.load_state_dict(checkpoint["optimizer"])
        if self.scaler is not None:
            self.scaler.load_state_dict(checkpoint["grad_scaler"])
        restore_rng(checkpoint["rng"], self.device)
        saved = checkpoint["history"]
        self.history = {**saved, "commands": [*saved["commands"], command]}

    def run(self, progress: bool) -> Path:
        """Train from the current step to the total; returns the final checkpoint's path."""
        config, world, rank = self.config, self.processes.world_size, self.processes.rank
        pairs = TrainingPairs(
            self.data.samples,
            config.image_size,
            config.sampling,
            seed=config.seed,
            flip=config.flip,
            synthetic_rain=config.synthetic_rain,
            cache=config.cache_images,
        )
        order = ShardedOrder(len(pairs), config.seed, world, rank, start=self.step, stop=self.total)
        on_cuda = self.device.type == "cuda"
        loader = DataLoader(pairs, batch_size=1, sampler=order, num_workers=config.workers, pin_memory=on_cuda)
        val_every = config.val_every or self.per_epoch
        bar = tqdm(total=self.total, initial=self.step, unit="step", disable=not (progress and rank == 0))
        path = self.out / CHECKPOINT_NAME
        for rainy, clean, index in loader:
            l1 = self._train_step(rainy.to(self.device, non_blocking=True), clean.to(self.device, non_blocking=True))
            self.step += 1
            bar.update(1)
            last = self.step == self.total
            if self.step % config.log_every == 0 or last:
                loss = self._log_losses(index, l1)
                bar.set_postfix(loss=f"{loss:.4f}", refresh=False)
            if self.data.val and (self.step % val_every == 0 or last):
                self._validate()
            if self.step % config.checkpoint_every == 0 or last:
                path = self._save()
        bar.close()
        if self.log:
            self.log.write(event="end", step=self.step, train_seconds=self._seconds())
        self._say(f"done: {path}")
        return path

    @property
    def epoch(self) -> int:
        """The epoch of the last step taken."""
        return max(self.step - 1, 0) // self.per_epoch

    def _train_step(self, rainy: torch.Tensor, clean: torch.Tensor) -> torch.Tensor:
        """One optimizer step on this process's pair; returns its six unweighted L1 losses."""
        amp_dtype = _AMP_DTYPES.get(self.config.amp)
        targets = multiscale_targets(rainy, clean)
        with torch.autocast(self.device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
            outputs = self.net(rainy)
        loss, l1 = msdr_loss(outputs, targets)
        self.optimizer.zero_grad(set_to_none=True)
        for group in self.optimizer.param_groups:
            group["lr"] = scheduled_lr(self.config.lr, self.config.lr_schedule, self.step, self.total)
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            loss.backward()
            self.optimizer.step()
        return l1.detach()

    def _log_losses(self, index: torch.Tensor, l1: torch.Tensor) -> float:
        """Gather every process's (sample, losses) and log their means; returns the total loss."""
        row = torch.cat([index.to(self.device, torch.float64), l1.double()])
        rows = distributed.gather_rows(self.processes, row)
        now = time.perf_counter()
        mean_l1 = rows[:, 1:].mean(0).tolist()
        weighted = [w * v for w, v in zip(LOSS_WEIGHTS, mean_l1, strict=True)]
        record = {
            "step": self.step,
            "epoch": self.epoch,
            "lr": self.optimizer.param_groups[0]["lr"],
            "loss": sum(weighted),
            **{f"l1_{name}": v for name, v in zip(SCRIPT_NAMES, mean_l1, strict=True)},
            **{f"weighted_{name}": v for name, v in zip(SCRIPT_NAMES, weighted, strict=True)},
            "seconds_per_step": (now - self._last_log_time) / (self.step - self._last_log_step),
            "samples": [self.data.sample_names[int(i)] for i in rows[:, 0].tolist()],
        }
        self._last_log_time, self._last_log_step = now, self.step
        self.history["last_train"] = record
        if self.log:
            self.log.write(event="train", **record)
        return record["loss"]

    def _validate(self) -> None:
        if self.validator:
            scores = self.validator(self.model, self.device)
            self.history["last_val"] = {"step": self.step, **scores}
            self.log.write(event="val", step=self.step, epoch=self.epoch, **scores)
            psnr = ", ".join(f"{key} {value:.3f}" for key, value in scores.items() if "psnr@" in key)
            self._say(f"step {self.step}: {psnr}")
        barrier(self.processes)

    def _save(self) -> Path:
        """Check that the replicas agree, then rank 0 writes the checkpoint."""
        in_sync = distributed.replicas_agree(self.processes, self.model) if self.processes.world_size > 1 else None
        if in_sync is False:
            raise RuntimeError(f"the DDP replicas hold different weights at step {self.step}")
        path = self.out / CHECKPOINT_NAME
        if self.processes.is_main:
            save_atomically(self.checkpoint(), path)
            self.log.write(event="checkpoint", step=self.step, path=str(path), replicas_in_sync=in_sync)
        barrier(self.processes)
        return path

    def checkpoint(self) -> dict:
        """Everything needed to continue exactly, and to say how the weights were made."""
        return {
            "format": CHECKPOINT_FORMAT,
            "step": self.step,
            "epoch": self.step // self.per_epoch,  # the epoch of the next step
            "steps_per_epoch": self.per_epoch,
            "world_size": self.processes.world_size,
            "config": self.config.to_dict(),
            "model_config": self.config.model_config,
            "model": self.model.state_dict(),  # unwrapped: no DDP "module." prefix
            "optimizer": self.optimizer.state_dict(),
            "grad_scaler": self.scaler.state_dict() if self.scaler is not None else None,
            "rng": capture_rng(self.device),
            "data_order": DATA_ORDER,
            "datasets": self.data.record(),
            "leak_check": self.leak_check,
            "history": {**self.history, "train_seconds": self._seconds()},
            "git": git_state(),
            "torch": str(torch.__version__),  # TorchVersion is a class weights_only refuses
        }

    def _seconds(self) -> float:
        """Training wall time so far, over every start and resume."""
        return self._seconds_before + time.perf_counter() - self._started

    def _log_event(self, event: str, command: str) -> None:
        config = self.config
        if self.log:
            self.log.write(
                event=event,
                step=self.step,
                command=command,
                config=config.to_dict(),
                world_size=self.processes.world_size,
                steps_per_epoch=self.per_epoch,
                total_steps=self.total,
                datasets=self.data.record(),
                leak_check=self.leak_check,
                environment=environment(self.device),
            )
        self._say(
            f"training MSDRNet({config.base_channels}, {config.image_size}, faithful={config.faithful}) on "
            f"{len(self.data.samples)} pairs, {self.processes.world_size} process(es), steps {self.step} -> "
            f"{self.total} ({self.per_epoch} per epoch), into {self.out}"
        )

    def _say(self, message: str) -> None:
        if self.processes.is_main:
            tqdm.write(message, file=sys.stderr)


class _JsonLines:
    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path

    def write(self, **record) -> None:
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
