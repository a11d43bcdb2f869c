"""Job arrays without a rendezvous: `bench run --shard I/N` computes one share of a run into a shard folder, and
`bench merge` joins the N shard folders into one results folder equal to a single process's.

Shard I of N takes the images i with i % N == I of every method x dataset, as torchrun's rank I of N does, and
leaves what a finished rank leaves: its journal (`journal.rank<I>.jsonl`), its staged images, and `shard.json`,
written last and atomically, naming the shard, the run's whole configuration and the code's commit. A shard
folder holds no results.json, so nothing mistakes it for a complete run. `bench merge` requires every shard
0..N-1 exactly once, finished, of one configuration and one commit, then merges them as torchrun's rank 0 does,
requiring every image exactly once.
"""

import json
import os
import re
import shutil
from pathlib import Path

from bench.common.errors import BenchError, writing
from bench.results.schema import write_json
from bench.run.journal import read_journal
from bench.run.saved_images import PARTIAL

SHARD_FILE = "shard.json"
SCHEMA = "derain-bench/shard/v1"


def parse_shard(text: str) -> tuple[int, int]:
    """ "2/8" -> (2, 8): shard 2 of 8, counted from 0."""
    match = re.fullmatch(r"(\d+)/(\d+)", text.strip())
    if match is None or int(match[2]) < 1 or int(match[1]) >= int(match[2]):
        raise BenchError(f"--shard takes I/N with 0 <= I < N (shard I of N, from 0), got {text!r}; e.g. --shard 0/4")
    return int(match[1]), int(match[2])


def finish_shard(out: Path, shard: tuple[int, int], config: dict, header: dict) -> None:
    """Mark `out` as a finished shard: its journal holds every image of its share."""
    staged = out / f".{SHARD_FILE}.tmp"
    with writing(staged):
        write_json(staged, {"schema": SCHEMA, "shard": list(shard), "config": config, **header})
        os.replace(staged, out / SHARD_FILE)


def read_shards(folders: list[Path]) -> tuple[dict, dict[int, Path]]:
    """The one configuration and header of `folders`, checked to be the finished shards 0..N-1 of one run, and the
    folder of each shard index."""
    shards = []
    for folder in folders:
        path = folder / SHARD_FILE
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise BenchError(
                f"{folder} is not a finished shard folder (no {SHARD_FILE}): run its `bench run --shard I/N` to the "
                "end (the same command resumes it)"
            ) from None
        except (OSError, ValueError) as exc:
            raise BenchError(f"cannot read {path} ({exc}): run that shard again with --overwrite") from exc
        if document.get("schema") != SCHEMA:
            raise BenchError(f"{path} is not a derain-bench shard record ({SCHEMA})")
        shards.append((folder, document))
    counts = {document["shard"][1] for _, document in shards}
    if len(counts) != 1:
        raise BenchError(f"the shard folders split the run in different numbers of shards ({sorted(counts)})")
    count = counts.pop()
    by_index: dict[int, list[Path]] = {}
    for folder, document in shards:
        by_index.setdefault(document["shard"][0], []).append(folder)
    if twice := {i: f for i, f in by_index.items() if len(f) > 1}:
        raise BenchError(
            "a shard given more than once: "
            + "; ".join(f"{i}/{count} in {', '.join(map(str, f))}" for i, f in sorted(twice.items()))
        )
    if missing := sorted(set(range(count)) - by_index.keys()):
        raise BenchError(f"shards missing: {', '.join(f'{i}/{count}' for i in missing)}; give every shard folder")
    first_folder, first = shards[0]
    for folder, document in shards[1:]:
        if differences := [key for key in ("config_hash", "save_images", "commit") if document[key] != first[key]]:
            raise BenchError(
                f"{folder} and {first_folder} are shards of different runs (they differ in {', '.join(differences)}): "
                "merge only the shards of one `bench run` command"
            )
    return first, {index: found[0] for index, found in sorted(by_index.items())}


def gather(folders: dict[int, Path], out: Path) -> None:
    """Copy every shard's journal (`folders`: shard index -> folder) and staged images into `out`, where the merge
    reads them."""
    for index, folder in folders.items():
        journal = folder / f"journal.rank{index}.jsonl"
        read_journal(journal)  # refused here, naming the file, if it is not a whole journal
        shutil.copyfile(journal, out / journal.name)
        if (folder / PARTIAL).is_dir():
            shutil.copytree(folder / PARTIAL, out / PARTIAL, dirs_exist_ok=True)
