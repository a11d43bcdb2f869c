"""One process, or one of several under torchrun: rank, world size, device, and a barrier.

Under `torchrun` (its RANK / WORLD_SIZE / LOCAL_RANK variables) the process group is started with NCCL on CUDA
and gloo on CPU; process r then uses cuda:LOCAL_RANK. Outside torchrun nothing is started and the barrier is
the single-process identity. `bench run` shards images across the processes (bench.run.folder); MSDR-Net's
training (msdr.distributed) adds its own collectives.
"""

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from bench.common.errors import BenchError
from bench.run.provenance import resolve_device


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


def launched_by_torchrun() -> bool:
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


def rank_from_env() -> int:
    """This process's rank before (or without) a process group: 0 outside torchrun."""
    return int(os.environ.get("RANK", "0"))


def start(device_request: str) -> Processes:
    """Resolve the device and, under torchrun, join the process group."""
    device = resolve_device(device_request)
    if not launched_by_torchrun():
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
