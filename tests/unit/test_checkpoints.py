"""Historic checkpoint layouts -> the network's state dict, never running pickled code (bench.methods.checkpoints).

Each layout is written here as the release's trainer writes it (DataParallel's `module.` prefix, RESCAN's and
SPANet's {"net", "clock", "opt"} dicts); the mirrored release files themselves are covered by the reference tests.
"""

import pickle

import pytest
import torch
from torch import nn

from bench.common.errors import AssetError
from bench.methods.checkpoints import load_strict, read_state_dict


def _state() -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Conv2d(4, 3, 1)).state_dict()


def test_a_plain_state_dict_is_returned_as_it_is(tmp_path):
    torch.save(_state(), tmp_path / "plain.pth")
    state, undone = read_state_dict(tmp_path / "plain.pth")
    assert undone == {} and all(torch.equal(state[k], v) for k, v in _state().items())


def test_the_data_parallel_prefix_is_stripped_and_recorded(tmp_path):
    torch.save({f"module.{k}": v for k, v in _state().items()}, tmp_path / "dp.pth")
    state, undone = read_state_dict(tmp_path / "dp.pth")
    assert state.keys() == _state().keys() and undone == {"stripped_prefix": "module."}


def test_a_prefix_on_some_keys_only_is_left_alone(tmp_path):
    mixed = {"module.0.weight" if k == "0.weight" else k: v for k, v in _state().items()}
    torch.save(mixed, tmp_path / "mixed.pth")
    state, undone = read_state_dict(tmp_path / "mixed.pth")
    assert "module.0.weight" in state and "stripped_prefix" not in undone


def test_a_training_checkpoint_gives_its_net_entry_and_step_count(tmp_path):
    net = nn.Conv2d(3, 3, 1)
    optimiser = torch.optim.Adam(net.parameters())
    net(torch.ones(1, 3, 2, 2)).sum().backward()
    optimiser.step()
    checkpoint = {"net": {f"module.{k}": v for k, v in net.state_dict().items()}, "clock": 40000}
    torch.save(checkpoint | {"opt": optimiser.state_dict()}, tmp_path / "latest")
    state, undone = read_state_dict(tmp_path / "latest")
    assert undone == {"entry": "net", "clock": 40000, "stripped_prefix": "module."}
    load_strict(nn.Conv2d(3, 3, 1), state, tmp_path / "latest")


@pytest.mark.parametrize("entry", ["state_dict", "model"])
def test_other_common_entries_are_found(tmp_path, entry):
    torch.save({entry: _state(), "epoch": 7}, tmp_path / "ckpt.pth")
    state, undone = read_state_dict(tmp_path / "ckpt.pth")
    assert state.keys() == _state().keys() and undone == {"entry": entry, "epoch": 7}


def test_a_mapping_without_weights_fails_in_one_line(tmp_path):
    torch.save({"clock": 3, "notes": "no weights here"}, tmp_path / "empty.pth")
    with pytest.raises(
        AssetError, match="neither a state dict nor a training checkpoint: it has no net/state_dict/model"
    ):
        read_state_dict(tmp_path / "empty.pth")


def test_a_net_entry_holding_more_than_tensors_fails(tmp_path):
    torch.save({"net": {"w": torch.ones(1), "step": 3}}, tmp_path / "odd.pth")
    with pytest.raises(AssetError, match="has a 'net' entry that is not a state dict: 'step' not tensors"):
        read_state_dict(tmp_path / "odd.pth")


class _Payload:
    def __reduce__(self):
        return (print, ("pickled code ran",))


def test_a_file_that_needs_pickled_code_is_refused_not_loosened(tmp_path, capsys):
    with open(tmp_path / "evil.pth", "wb") as f:
        pickle.dump({"net": _Payload()}, f)
    with pytest.raises(AssetError, match=r"cannot be loaded as plain tensors \(weights_only=True\)"):
        read_state_dict(tmp_path / "evil.pth")
    assert "pickled code ran" not in capsys.readouterr().out
