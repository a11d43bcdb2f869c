"""One run into one results folder: what `bench run` and each group of `bench reproduce` do."""

import time
from collections.abc import Callable
from pathlib import Path

from bench.common.assets import Store
from bench.common.checkout import git_state
from bench.common.errors import BenchError
from bench.results import schema
from bench.run import distributed, runner, shards
from bench.run.journal import Journal, journal_files
from bench.run.lock import RunFolderLock
from bench.run.saved_images import ImageKeeper, discard_partial


def run_into(
    config: runner.RunConfig,
    store: Store,
    out: Path,
    *,
    save_images: bool,
    progress: bool,
    log: Callable[[str], None],
    overwrite: bool = False,
    workers: int | None = None,
    shard: tuple[int, int] | None = None,
) -> dict | None:
    """Run `config` and write its results into `out` (with `save_images`, every image too); return the document.

    Nothing in `out` looks finished until all of it is: images are staged and moved in before results.json.
    Every scored image is journaled (bench.run.journal), so the same command with the same `out` resumes an
    interrupted run; `overwrite` discards what an interrupted run left instead. `workers` threads decode and
    score around the model (default: bench.run.cell.default_workers; 0 runs everything in series).

    Under torchrun the images of every method x dataset are sharded across the ranks by index (image i to rank
    i % world size, no padding), each rank journals its shard, and after a barrier rank 0 merges the journals,
    requiring every image exactly once, and writes the one results folder; it returns the document, the other
    ranks None. A rank that dies fails the torchrun job and leaves the journals: the same command resumes.

    `shard` (I, N) runs only shard I's images, as rank I of N would, and leaves a shard folder for `merge_into`
    (bench.run.shards); it returns None.
    """
    if workers is not None and workers < 0:
        raise BenchError(f"--workers must be 0 (all in series) or more, got {workers}")
    header = {"config_hash": config.digest(), "save_images": save_images, "commit": git_state()["commit"]}
    started = time.perf_counter()
    processes = distributed.start(config.device)
    lock = RunFolderLock(out)
    try:
        _lock_for_every_rank(lock, processes)
        if processes.is_main and overwrite:
            for file in [*journal_files(out), out / shards.SHARD_FILE]:
                file.unlink(missing_ok=True)
            discard_partial(out)
        distributed.barrier(processes)
        settings = {"progress": progress, "workers": workers, "device": processes.device}
        if shard is not None:
            if processes.world_size > 1:
                raise BenchError("--shard splits a run into separate jobs; torchrun's or srun's ranks split it already")
            _run_shard(config, store, out, header, save_images, log, {**settings, "shard": shard})
            shards.finish_shard(out, shard, config.to_dict(), header)
            return None
        if processes.world_size == 1:
            return _run_and_write(config, store, out, header, save_images, log, settings, 1)
        shard = (processes.rank, processes.world_size)
        rank_log = _prefixed(log, f"[rank {processes.rank}] ")
        _run_shard(config, store, out, header, save_images, rank_log, {**settings, "shard": shard})
        distributed.barrier(processes)  # every shard journaled
        document = None
        if processes.is_main:
            merging = {**settings, "merge": True}
            document = _run_and_write(
                config, store, out, header, save_images, rank_log, merging, processes.world_size, started
            )
        distributed.barrier(processes)
        return document
    finally:
        lock.release()
        distributed.stop(processes)


def merge_into(folders: list[Path], store: Store, out: Path, *, progress: bool, log: Callable[[str], None]) -> dict:
    """Join the shard folders of one `run --shard I/N` command into the results folder `out`, equal to one process's
    run: every shard 0..N-1 once, of one configuration and one commit (this checkout's), every image once."""
    record, by_index = shards.read_shards(folders)
    config = runner.RunConfig.from_dict(record["config"])
    if config.digest() != record["config_hash"]:
        raise BenchError(f"{folders[0] / shards.SHARD_FILE}: its configuration does not match its hash; run it again")
    if record["commit"] != git_state()["commit"]:
        raise BenchError(
            f"the shards were computed by commit {record['commit']}, this checkout is {git_state()['commit']}: "
            "merge them with the code that computed them"
        )
    header = {key: record[key] for key in ("config_hash", "save_images", "commit")}
    started = time.perf_counter()
    with RunFolderLock(out):
        shards.gather(by_index, out)
        settings = {"progress": progress, "workers": None, "device": None, "merge": True, "launched_as": "shards"}
        return _run_and_write(config, store, out, header, record["save_images"], log, settings, len(by_index), started)


def _lock_for_every_rank(lock: RunFolderLock, processes: distributed.Processes) -> None:
    """Rank 0 takes OUT's lock for the whole job; if it cannot, every rank stops before writing anything."""
    refusal = None
    if processes.is_main:
        try:
            lock.acquire()
        except BenchError as exc:
            refusal = exc
    if not distributed.all_succeeded(processes, refusal is None):
        raise refusal or BenchError(f"rank 0 could not lock {lock.path.parent}: its error says why")


def _run_shard(config, store, out, header, save_images, log, settings) -> None:
    """One rank's share: its images computed and journaled (the document it would make is not written)."""
    journal = Journal.open(out, header, rank=settings["shard"][0])
    keeper = ImageKeeper(out) if save_images else None
    try:
        runner.run(config, store, log=log, on_output=keeper, journal=journal, **settings)
    finally:
        journal.close()


def _run_and_write(
    config, store, out, header, save_images, log, settings, world_size: int, started: float | None = None
) -> dict:
    """The whole run (or, with `merge`, the ranks' journals merged) written into `out`; journals removed after."""
    settings = dict(settings)
    launched_as = settings.pop("launched_as", None)
    journal = Journal.open(out, header, rank=0 if settings.get("merge") else None)
    keeper = ImageKeeper(out) if save_images else None
    try:
        document = runner.run(config, store, log=log, on_output=keeper, journal=journal, **settings)
        # torchrun: the rows were scored by `world_size` ranks (image i by rank i % world_size) and merged by rank 0;
        # `merge`: by as many shard jobs, joined afterwards
        document["processes"] = {
            "world_size": world_size,
            "sharding": "image index modulo world size",
            "launched_as": launched_as or ("one process" if world_size == 1 else "torchrun or srun ranks"),
        }
        if started is not None:
            document["processes"]["wall_s"] = time.perf_counter() - started  # every rank's share and the merge
        if keeper is not None:
            document["images"] = keeper.describe()
        schema.write_results(out, document, images=keeper.folder if keeper else None)
    except BaseException:
        journal.close()  # synced: what was scored is kept for the next attempt
        if keeper is not None:
            keeper.abandon()
        raise
    journal.remove()
    if keeper is not None:
        keeper.finish()
    return document


def _prefixed(log: Callable[[str], None], prefix: str) -> Callable[[str], None]:
    return lambda message: log(prefix + message)
