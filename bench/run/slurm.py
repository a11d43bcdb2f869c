"""Slurm's task variables as torchrun's: an `srun` job step of N tasks becomes one process group of N ranks.

srun starts every task with SLURM_PROCID (its rank), SLURM_NTASKS (the world size), SLURM_LOCALID (its rank on
its node) and the nodes of the step (SLURM_STEP_NODELIST; SLURM_JOB_NODELIST for the whole allocation), but sets
none of RANK / WORLD_SIZE / LOCAL_RANK / MASTER_ADDR / MASTER_PORT, which torch.distributed's env:// rendezvous
reads. Task 0 runs on the first node of the step, so that node is the rendezvous address; the port is
MASTER_PORT when the user sets one, else one derived from the job id so that two jobs sharing a node differ.
"""

import re
from collections.abc import Mapping

from bench.common.errors import BenchError

PORT_BASE, PORT_SPAN = 20000, 20000  # 20000..39999: above the well-known and registered ports most clusters use


def torch_variables_from_slurm(environ: Mapping[str, str]) -> dict[str, str]:
    """RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT for a task of an srun step of several tasks;
    empty when not under srun, when the step has one task, or when torchrun already set the ranks."""
    if "RANK" in environ or "SLURM_PROCID" not in environ or int(environ.get("SLURM_NTASKS", "1")) < 2:
        return {}
    nodes = environ.get("SLURM_STEP_NODELIST") or environ.get("SLURM_JOB_NODELIST")
    if not nodes:
        raise BenchError("srun set SLURM_PROCID but no SLURM_STEP_NODELIST or SLURM_JOB_NODELIST: set MASTER_ADDR")
    return {
        "RANK": environ["SLURM_PROCID"],
        "WORLD_SIZE": environ["SLURM_NTASKS"],
        "LOCAL_RANK": environ.get("SLURM_LOCALID", "0"),
        "MASTER_ADDR": environ.get("MASTER_ADDR") or first_host(nodes),
        "MASTER_PORT": environ.get("MASTER_PORT") or str(PORT_BASE + int(environ.get("SLURM_JOB_ID", "0")) % PORT_SPAN),
    }


def first_host(nodelist: str) -> str:
    """The first host of a Slurm hostlist: "gpu[07-09,12],cpu1" -> "gpu07" (zero padding kept, as Slurm does)."""
    match = re.match(r"([^,\[]+)(?:\[([^\]]+)\])?", nodelist.strip())
    if match is None:
        raise BenchError(f"cannot read the Slurm node list {nodelist!r}: set MASTER_ADDR to the first node's name")
    prefix, ranges = match.groups()
    if ranges is None:
        return prefix
    return prefix + ranges.split(",")[0].split("-")[0]
