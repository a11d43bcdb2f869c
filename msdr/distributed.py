"""One process, or one of several under torchrun: rank, world size, device, and the few collectives training uses.

Under `torchrun` (its RANK / WORLD_SIZE / LOCAL_RANK variables) the process group is started with NCCL on CUDA
and gloo on CPU; process r then uses cuda:LOCAL_RANK. Outside torchrun nothing is started and every collective
below is the single-process identity.
"""

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from bench.errors import BenchError
from bench.provenance import resolve_device


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


def gather_rows(processes: Processes, row: torch.Tensor) -> torch.Tensor:
    """Every process's 1-D `row`, stacked in rank order (world_size x len(row)), on every process."""
    if not processes.distributed:
        return row[None]
    rows = [torch.empty_like(row) for _ in range(processes.world_size)]
    dist.all_gather(rows, row)
    return torch.stack(rows)


def replicas_agree(processes: Processes, module: nn.Module) -> bool:
    """Whether every process holds the same parameters, compared through the float64 sum and sum of squares of
    every parameter tensor. Buffers are left out: each process's BatchNorm updates its running statistics from
    its own sample, and DDP copies rank 0's over the others only at the next forward."""
    params = [p.detach().double() for p in module.parameters()]
    sums = torch.stack([p.sum() for p in params] + [p.square().sum() for p in params])
    rows = gather_rows(processes, sums)
    return all(torch.equal(rows[0], other) for other in rows[1:])
