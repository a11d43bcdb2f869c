"""Slurm's task variables mapped onto torchrun's (bench.run.slurm), with the variables set by hand."""

import pytest

from bench.common.errors import BenchError
from bench.run.slurm import first_host, torch_variables_from_slurm

TASK_1_OF_4 = {"SLURM_PROCID": "1", "SLURM_NTASKS": "4", "SLURM_LOCALID": "1", "SLURM_JOB_ID": "734512"}


@pytest.mark.parametrize(
    ("nodelist", "first"),
    [("node01", "node01"), ("gpu[07-09,12],cpu1", "gpu07"), ("n[001]", "n001"), ("a-b-3,x", "a-b-3"), ("c[3,1]", "c3")],
)
def test_the_first_host_of_a_slurm_hostlist(nodelist, first):
    assert first_host(nodelist) == first


def test_a_task_of_several_becomes_a_rank_meeting_on_the_steps_first_node():
    environ = {**TASK_1_OF_4, "SLURM_JOB_NODELIST": "gpu[01-08]", "SLURM_STEP_NODELIST": "gpu[03-04]"}
    assert torch_variables_from_slurm(environ) == {
        "RANK": "1",
        "WORLD_SIZE": "4",
        "LOCAL_RANK": "1",
        "MASTER_ADDR": "gpu03",  # task 0 runs on the step's first node
        "MASTER_PORT": str(20000 + 734512 % 20000),
    }


def test_the_users_rendezvous_and_torchruns_ranks_win():
    environ = {**TASK_1_OF_4, "SLURM_JOB_NODELIST": "gpu[01-08]", "MASTER_ADDR": "head", "MASTER_PORT": "29500"}
    assert torch_variables_from_slurm(environ)["MASTER_ADDR"] == "head"
    assert torch_variables_from_slurm(environ)["MASTER_PORT"] == "29500"
    assert torch_variables_from_slurm({**environ, "RANK": "0"}) == {}  # srun torchrun ...: torchrun's own


def test_one_task_or_no_slurm_is_a_process_alone():
    assert torch_variables_from_slurm({"SLURM_PROCID": "0", "SLURM_NTASKS": "1", "SLURM_JOB_NODELIST": "n1"}) == {}
    assert torch_variables_from_slurm({}) == {}


def test_a_task_without_a_node_list_says_what_to_set():
    with pytest.raises(BenchError, match="set MASTER_ADDR"):
        torch_variables_from_slurm(TASK_1_OF_4)
