"""One run into one results folder: what `bench run` and each group of `bench reproduce` do."""

from collections.abc import Callable
from pathlib import Path

from bench import results, runner
from bench.assets import Store
from bench.checkout import git_state
from bench.journal import JOURNAL_FILE, Journal
from bench.saved_images import ImageKeeper, discard_partial


def run_into(
    config: runner.RunConfig,
    store: Store,
    out: Path,
    *,
    save_images: bool,
    progress: bool,
    log: Callable[[str], None],
    overwrite: bool = False,
) -> dict:
    """Run `config` and write its results into `out` (with `save_images`, every image too); return the document.

    Nothing in `out` looks finished until all of it is: images are staged and moved in before results.json.
    Every scored image is journaled (bench.journal), so the same command with the same `out` resumes an
    interrupted run; `overwrite` discards what an interrupted run left instead.
    """
    if overwrite:
        (out / JOURNAL_FILE).unlink(missing_ok=True)
        discard_partial(out)
    header = {"config_hash": config.digest(), "save_images": save_images, "commit": git_state()["commit"]}
    journal = Journal.open(out, header)
    keeper = ImageKeeper(out) if save_images else None
    try:
        document = runner.run(config, store, progress=progress, log=log, on_output=keeper, journal=journal)
        if keeper is not None:
            document["images"] = keeper.describe()
        results.write_results(out, document, images=keeper.folder if keeper else None)
    except BaseException:
        journal.close()  # synced: what was scored is kept for the next attempt
        if keeper is not None:
            keeper.abandon()
        raise
    journal.remove()
    if keeper is not None:
        keeper.finish()
    return document
