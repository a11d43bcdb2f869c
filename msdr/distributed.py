"""The collectives MSDR-Net's training uses, beside the process handling it shares with `bench run`
(bench.run.distributed: rank, world size, device, barrier). Outside torchrun each is the single-process identity.
"""

import torch
import torch.distributed as dist
from torch import nn

from bench.run.distributed import Processes


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
