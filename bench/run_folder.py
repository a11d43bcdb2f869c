"""One run into one results folder: what `bench run` and each group of `bench reproduce` do."""

from collections.abc import Callable
from pathlib import Path

from bench import results, runner
from bench.assets import Store
from bench.saved_images import ImageKeeper


def run_into(
    config: runner.RunConfig,
    store: Store,
    out: Path,
    *,
    save_images: bool,
    progress: bool,
    log: Callable[[str], None],
) -> dict:
    """Run `config` and write its results into `out` (with `save_images`, every image too); return the document.

    Nothing in `out` looks finished until all of it is: images are staged and moved in before results.json.
    """
    keeper = ImageKeeper(out) if save_images else None
    try:
        document = runner.run(config, store, progress=progress, log=log, on_output=keeper)
        if keeper is not None:
            document["images"] = keeper.describe()
        results.write_results(out, document, images=keeper.folder if keeper else None)
    finally:
        if keeper is not None:
            keeper.discard()
    return document
