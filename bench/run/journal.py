"""The journal of a run in progress: one line per scored image, so that an interrupted run resumes where it stopped.

`OUT/journal.jsonl` starts with a header line (schema, config hash, whether images are kept, the commit of the code),
then holds one line per scored image: `{"method": ..., "dataset": ..., "row": {...}}`, the row exactly as the
results will hold it (Python's JSON, whose NaN and Infinity read back as the same floats). Every line is written
whole and flushed at once; the file is fsync'd every `FSYNC_EVERY` lines and when the run ends or fails, so a
kill -9 loses at most the last few rows, which the next run computes again.

Reading back, a last line without its newline is a torn write: it is dropped, and cut off the file before the
next line is appended. Any other line that is not a journal entry means the file was damaged otherwise: refused.
A journal only resumes the run that wrote it: the same config hash, the same choice of `--save-images`, the same
commit. A finished run removes its journal.

Under torchrun, rank r writes `OUT/journal.rank<r>.jsonl`. Every process reads every journal in OUT, so a run
resumes whatever wrote the rows before (one process or several, any number of them); an image recorded in more
than one file is noted in `duplicates`, which the merging rank refuses.
"""

import json
import os
from pathlib import Path

from bench.common.errors import BenchError, writing

SCHEMA = "derain-bench/journal/v1"
JOURNAL_FILE = "journal.jsonl"
RANK_JOURNALS = "journal.rank*.jsonl"
FSYNC_EVERY = 8

Cell = tuple[str, str]  # (method, dataset)


class Journal:
    """Appends the rows of a run to OUT/journal.jsonl; `done` holds the rows an earlier attempt had recorded."""

    def __init__(
        self, path: Path, header: dict, done: dict[Cell, dict[str, dict]], intact: int, duplicates: set
    ) -> None:
        self.path = path
        self.header = header
        self.done = done
        self.duplicates = duplicates  # (method, dataset, image) recorded by more than one journal file
        self._intact = intact  # bytes of whole lines already in the file
        self._file = None
        self._unsynced = 0

    @classmethod
    def open(cls, out: Path, header: dict, rank: int | None = None) -> "Journal":
        """The journal this process appends to (`rank` under torchrun), with the rows of every journal in `out`;
        refused when one of them was written by a different run (`header`)."""
        path = out / (JOURNAL_FILE if rank is None else f"journal.rank{rank}.jsonl")
        done: dict[Cell, dict[str, dict]] = {}
        duplicates: set[tuple[str, str, str]] = set()
        intact = 0
        for file in journal_files(out):
            recorded, rows, whole = read_journal(file)
            if differences := [key for key in header if recorded.get(key) != header[key]]:
                raise BenchError(
                    f"{out} holds an interrupted run that differs from this one in {', '.join(differences)} "
                    f"({', '.join(f'{key} {recorded.get(key)!r}, now {header[key]!r}' for key in differences)}): "
                    "resuming would mix numbers of two runs; pass --overwrite to start again, or choose another --out"
                )
            for cell, images in rows.items():
                known = done.setdefault(cell, {})
                duplicates.update((*cell, image) for image in images.keys() & known.keys())
                known.update({image: row for image, row in images.items() if image not in known})
            if file == path:
                intact = whole
        return cls(path, header, done, intact, duplicates)

    def record(self, method: str, dataset: str, row: dict) -> None:
        self._write({"method": method, "dataset": dataset, "row": row})
        self._unsynced += 1
        if self._unsynced >= FSYNC_EVERY:
            self.sync()

    def sync(self) -> None:
        if self._file is not None and self._unsynced:
            with writing(self.path):
                os.fsync(self._file.fileno())
            self._unsynced = 0

    def close(self) -> None:
        if self._file is not None:
            self._unsynced = max(self._unsynced, 1)
            self.sync()
            self._file.close()
            self._file = None

    def remove(self) -> None:
        """After the results are written: every journal in the folder has served."""
        self.close()
        for file in journal_files(self.path.parent):
            file.unlink()

    def _write(self, entry: dict) -> None:
        with writing(self.path):
            if self._file is None:  # on the first row: a run refused before its first image writes nothing
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 (open until close())
                self._file.truncate(self._intact)  # drop a torn last line; appending goes on from there
                if self._intact == 0:
                    self._file.write(json.dumps({"journal": SCHEMA, **self.header}) + "\n")
            self._file.write(json.dumps(entry, separators=(",", ":")) + "\n")  # one write call per line
            self._file.flush()


def journal_files(out: Path) -> list[Path]:
    """The journal files in `out`: one process's, and each torchrun rank's."""
    return [path for path in [out / JOURNAL_FILE, *sorted(out.glob(RANK_JOURNALS))] if path.is_file()]


def read_journal(path: Path) -> tuple[dict, dict[Cell, dict[str, dict]], int]:
    """The header, the recorded rows ((method, dataset) -> image -> row), and the length in bytes of the whole
    lines: a torn last line (no newline) is dropped."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise BenchError(f"cannot read the journal {path} ({exc}); pass --overwrite to start the run again") from exc
    intact = data.rfind(b"\n") + 1  # what follows the last newline is the part of a line a kill cut short
    entries = []
    for number, line in enumerate(data[:intact].splitlines(), 1):
        try:
            entries.append(json.loads(line))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise BenchError(
                f"{path}: line {number} is not a journal entry ({exc}); the file was damaged, not merely cut "
                "short: pass --overwrite to start the run again"
            ) from exc
    if not entries or entries[0].get("journal") != SCHEMA:
        raise BenchError(f"{path} is not a derain-bench journal ({SCHEMA}); pass --overwrite to start the run again")
    done: dict[Cell, dict[str, dict]] = {}
    for entry in entries[1:]:
        done.setdefault((entry["method"], entry["dataset"]), {})[entry["row"]["image"]] = entry["row"]
    return entries[0], done, intact
