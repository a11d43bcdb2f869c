"""`python -m bench ls datasets`: where each set's files are for a given store, and how to install manual ones."""

from bench import data
from bench.common.assets import Store
from bench.data.listing import format_dataset_table, where_files_are


def _status(name: str, store: Store) -> str:
    return where_files_are(data.load_card(name), store)


def test_each_kind_of_set_says_where_its_files_are(tmp_path):
    store = Store(cache=tmp_path / "cache", offline=True)
    assert _status("rain200l", store) == "manual"
    assert _status("rain12", store) == "download"
    assert _status("demo", store) == "generated"


def _touch(root, assets):
    for asset in assets:
        (root / asset.path).parent.mkdir(parents=True, exist_ok=True)
        (root / asset.path).write_bytes(b"")


def test_mirrored_then_installed_as_the_files_arrive(tmp_path):
    mirror, cache = tmp_path / "mirror", tmp_path / "cache"
    assets = data.load_card("rain12").files.assets
    _touch(mirror, assets)
    _touch(cache, assets[:1])  # one file in the cache is not the set
    assert _status("rain12", Store(cache=cache, mirror=mirror, offline=True)) == "mirrored"
    _touch(cache, assets)
    assert _status("rain12", Store(cache=cache, mirror=mirror, offline=True)) == "installed"


def test_a_manual_set_is_installed_once_imported(tmp_path):
    store = Store(cache=tmp_path / "cache", offline=True)
    data.installed_path("rain200h", store).mkdir(parents=True)
    assert _status("rain200h", store) == "installed"


def test_the_table_gives_the_install_command_of_each_manual_set(tmp_path):
    table = format_dataset_table(Store(cache=tmp_path, offline=True)).splitlines()
    row = next(k for k, line in enumerate(table) if line.startswith("rain200h "))
    assert table[row].split()[:3] == ["rain200h", "200", "manual"]
    assert table[row + 1].strip().endswith("python -m bench fetch --datasets rain200h --from FILE")
    assert len(table) == 1 + len(data.dataset_names()) + sum(
        _status(name, Store(cache=tmp_path, offline=True)) == "manual" for name in data.dataset_names()
    )
