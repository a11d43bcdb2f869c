"""One process, or one of several under torchrun or Slurm: rank, world size, device, and a barrier.

Under `torchrun` (its RANK / WORLD_SIZE / LOCAL_RANK variables) the process group is started with NCCL on CUDA
and gloo on CPU; process r then uses cuda:LOCAL_RANK. Under `srun` without torchrun, Slurm's variables say the
same (bench.run.slurm maps them). Otherwise nothing is started and the barrier is the single-process identity.
`bench run` shards images across the processes (bench.run.folder); MSDR-Net's training (msdr.distributed) adds
its own collectives.
"""

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from bench.common.errors import BenchError
from bench.run.provenance import resolve_device
from bench.run.slurm import torch_variables_from_slurm


@dataclass(frozen=True)
class Processes:
    rank: int
    world_size: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return dist.is_available() and dist.is_initialized()


def adopt_slurm_tasks() -> None:
    """Under `srun` with several tasks and no torchrun, set torchrun's variables from Slurm's (never overriding
    any already set), so that every task joins one process group instead of each running the whole job."""
    for name, value in torch_variables_from_slurm(os.environ).items():
        os.environ.setdefault(name, value)


def launched_together() -> bool:
    """Whether this process is one of several of one job (torchrun, or srun's tasks)."""
    adopt_slurm_tasks()
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


def rank_from_env() -> int:
    """This process's rank before (or without) a process group: 0 for a process alone."""
    adopt_slurm_tasks()
    return int(os.environ.get("RANK", "0"))


def start(device_request: str) -> Processes:
    """Resolve the device and, under torchrun or srun, join the process group."""
    device = resolve_device(device_request)
    if not launched_together():
        return Processes(rank=0, world_size=1, device=device)
    rank, world_size = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    if device.type == "cuda":
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        if local_rank >= torch.cuda.device_count():
            raise BenchError(f"LOCAL_RANK {local_rank} but only {torch.cuda.device_count()} CUDA device(s) are visible")
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return Processes(rank=rank, world_size=world_size, device=device)


def stop(processes: Processes) -> None:
    if processes.distributed:
        dist.destroy_process_group()


def barrier(processes: Processes) -> None:
    if processes.distributed:
        dist.barrier()


def all_succeeded(processes: Processes, succeeded: bool) -> bool:
    """Whether `succeeded` holds on every rank (each rank passes its own; a collective, so every rank calls it)."""
    if not processes.distributed:
        return succeeded
    flag = torch.tensor([int(succeeded)], device=processes.device)
    dist.all_reduce(flag, op=dist.ReduceOp.MIN)
    return bool(flag.item())
