"""Train-on-test flagged at evaluation: from the weights' own training record, or the method's declaration."""

import pytest

from bench.data.overlap import training_overlap
from bench.methods.registry import build_method, method_names

RAIN100H = {"name": "rain100h", "fingerprint": "f" * 64}


def _method(train=(), declared=None, source="declared"):
    metadata = {"training": {"datasets": {"train": list(train)}}} if train else {}
    return {"training_overlaps": declared or {}, "loaded_weights": {"source": source, "metadata": metadata}}


def test_the_very_images_by_fingerprint():
    method = _method(train=[{"name": "my-copy", "fingerprint": "f" * 64}])
    assert "these very images" in training_overlap(method, RAIN100H)


def test_another_copy_of_the_set_by_name():
    method = _method(train=[{"name": "rain100h", "fingerprint": "0" * 64}])
    assert "a copy of rain100h" in training_overlap(method, RAIN100H)


def test_declared_overlap_of_the_declared_weights_only():
    declared = {"rain100l": "shares backgrounds"}
    assert training_overlap(_method(declared=declared), {"name": "rain100l"}) == "shares backgrounds"
    assert training_overlap(_method(declared=declared, source="user"), {"name": "rain100l"}) is None
    assert training_overlap(_method(declared=declared), RAIN100H) is None


def test_nothing_known_is_none():
    assert training_overlap({}, RAIN100H) is None


@pytest.mark.parametrize("name", method_names())
def test_every_registered_method_says_what_it_was_trained_on_and_where_that_is_stated(name):
    spec = build_method(name).spec
    assert spec.trained_on and spec.trained_on_source


RAIN12 = {"name": "rain12", "shares_images_with": {"raintrainl": "8 of its 12 clean images are RainTrainL's"}}


def test_a_training_set_that_the_test_sets_card_names_counts_for_declared_weights_and_checkpoints():
    declared = {"training_datasets": ("raintrainl",), "loaded_weights": {"source": "declared", "metadata": {}}}
    assert training_overlap(declared, RAIN12) == "trained on raintrainl: 8 of its 12 clean images are RainTrainL's"
    assert training_overlap(declared, {"name": "raintrainl"}) == "trained on raintrainl"
    assert training_overlap(declared, {"name": "rain100l", "shares_images_with": {}}) is None
    recorded = {"training": {"datasets": {"train": [{"name": "raintrainl", "fingerprint": "f" * 64}]}}}
    checkpoint = {"loaded_weights": {"source": "user", "metadata": recorded}}
    assert "its checkpoint records training on raintrainl: 8 of its 12" in training_overlap(checkpoint, RAIN12)
    user = {"training_datasets": ("raintrainl",), "loaded_weights": {"source": "user", "metadata": {}}}
    assert training_overlap(user, RAIN12) is None  # a user's weights: the declared training set says nothing
