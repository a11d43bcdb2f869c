"""`python -m bench ls datasets`: every dataset card, with where its files are for this store.

`installed` (in the cache, ready), `mirrored` (in the mirror: copied and verified on first use), `download`
(fetched from its pinned URL and verified on first use), `generated` (made on first use: the demo set), or
`manual` (downloaded by hand), followed by the command that installs such a copy.
"""

from bench import data
from bench.common.assets import Store
from bench.data.demo import DEMO_FOLDER


def import_command(name: str) -> str:
    return f"python -m bench fetch --datasets {name} --from FILE"


def where_files_are(card: data.DatasetCard, store: Store) -> str:
    if card.files is not None:
        assets = card.files.assets
        if all(store.local_path(asset).is_file() for asset in assets):
            return "installed"
        if store.mirror is not None and all((store.mirror / asset.path).is_file() for asset in assets):
            return "mirrored"
        return "download"
    if card.source == "generated":
        return "installed" if (store.cache / "datasets" / DEMO_FOLDER).is_dir() else "generated"
    return "installed" if data.installed_path(card.name, store).is_dir() else "manual"


def format_dataset_table(store: Store) -> str:
    lines = [f"{'name':18s} {'pairs':>5s}  {'files':9s}  title"]
    for name in data.dataset_names():
        card = data.load_card(name)
        files = where_files_are(card, store)
        lines.append(f"{name:18s} {card.pairs:5d}  {files:9s}  {card.title}")
        if files == "manual":
            lines.append(f"{'':35s}downloaded by hand, install it with: {import_command(name)}")
    return "\n".join(lines)
