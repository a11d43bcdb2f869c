"""RainTrainL, the 200 training pairs of Rain100L, against the mirrored test sets, by msdr.leakage's perceptual
hash: what its card and Rain12's card say (no Rain100L or Rain100H test background among them, 8 of Rain12's 12).

RainTrainL is too large to mirror (108 MB), so CI has no copy: the test runs where it was installed with
`python -m bench fetch --datasets raintrainl --from PATH` (a plain skip otherwise, not an anchor: CI's mirror does
not hold it by design).
"""

import pytest

from bench.common.assets import Store
from bench.common.errors import OfflineError
from bench.data import load_card, open_dataset
from msdr.leakage import OVERLAP_THRESHOLD, clean_hashes, hamming_distances

pytestmark = pytest.mark.reference


@pytest.fixture(scope="module")
def raintrainl_hashes(mirror_store: Store):
    store = Store.from_env(mirror=mirror_store.mirror)
    try:
        training = open_dataset("raintrainl", store)
    except OfflineError:
        pytest.skip("RainTrainL is not installed: python -m bench fetch --datasets raintrainl --from PATH")
    assert len(training.samples) == 200
    return clean_hashes(training)


@pytest.mark.parametrize(("test_set", "shared"), [("rain100l", 0), ("rain100h", 0), ("rain12", 8)])
def test_the_test_backgrounds_among_raintrainl_are_what_the_cards_say(
    raintrainl_hashes, mirror_store, test_set, shared
):
    distances = hamming_distances(raintrainl_hashes, clean_hashes(open_dataset(test_set, mirror_store)))
    assert int((distances <= OVERLAP_THRESHOLD).any(axis=0).sum()) == shared
    if shared:
        assert distances.min() == 0  # the same photographs, not look-alikes
        assert (
            f"{shared} of Rain12's 12 clean images are RainTrainL"
            in dict(load_card(test_set).shares_images_with)["raintrainl"]
        )
    else:
        assert distances.min() > 2 * OVERLAP_THRESHOLD - 4  # nothing near the threshold either
