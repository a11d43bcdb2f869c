"""One writer per results folder: `OUT/run.lock`, held for the whole run by the process that writes OUT.

The lock is an exclusive `flock` on the file, so the kernel drops it when its holder dies, however it dies
(kill -9 included): a stale file never blocks the next run, and nothing depends on a polite exit. The file names
its holder (host, pid, start time, command) for the refusal a second writer gets. It is removed when the run
ends (with OUT itself if the run made OUT and wrote nothing); a process that dies leaves it behind, unlocked, and
the next run takes it over.

flock works across hosts on the shared file systems clusters use (NFS v4, Lustre and GPFS with their locking
enabled, the usual setting); on a file system without locking the refusal cannot be guaranteed.
"""

import errno
import fcntl
import json
import os
import socket
import sys
import time
from contextlib import suppress
from pathlib import Path

from bench.common.errors import BenchError, writing

LOCK_FILE = "run.lock"


class RunFolderLock:
    """`with RunFolderLock(out):` holds OUT's lock, or raises a one-line BenchError naming the current holder."""

    def __init__(self, out: Path) -> None:
        self.path = out / LOCK_FILE
        self._fd: int | None = None
        self._made_folder = False

    def __enter__(self) -> "RunFolderLock":
        self.acquire()
        return self

    def __exit__(self, *exc_info) -> None:
        self.release()

    def acquire(self) -> None:
        with writing(self.path):
            self._made_folder = not self.path.parent.exists()
            self.path.parent.mkdir(parents=True, exist_ok=True)
            while True:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError as exc:
                    os.close(fd)
                    if exc.errno not in (errno.EWOULDBLOCK, errno.EACCES):
                        raise
                    raise BenchError(self._refusal()) from None
                # the holder before us may have removed the file between our open and our flock: then the lock we
                # got is on a file no one else will open; take the one at the path instead
                with suppress(FileNotFoundError):
                    if os.stat(self.path).st_ino == os.fstat(fd).st_ino:
                        break
                os.close(fd)
            os.ftruncate(fd, 0)
            os.write(fd, json.dumps(_holder()).encode() + b"\n")
            os.fsync(fd)
        self._fd = fd

    def release(self) -> None:
        if self._fd is None:
            return
        with suppress(FileNotFoundError):
            self.path.unlink()  # while still locked, so that no one locks the file being removed
        os.close(self._fd)
        self._fd = None
        if self._made_folder:  # a run that wrote nothing leaves no folder behind
            with suppress(OSError):
                self.path.parent.rmdir()

    def _refusal(self) -> str:
        try:
            holder = json.loads(self.path.read_text(encoding="utf-8"))
            who = (
                f"pid {holder['pid']} on {holder['host']}, running since {holder['started_utc']} ({holder['command']})"
            )
        except (OSError, ValueError, KeyError):  # the holder has not written its name yet
            who = "another process (it has not said which yet)"
        return (
            f"{self.path.parent} is being written by {who}: two runs into one folder would mix their numbers; "
            "wait for it to finish, or choose another --out"
        )


def _holder() -> dict:
    return {
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "command": " ".join([_program(), *sys.argv[1:]]),
    }


def _program() -> str:
    """`python -m bench` for a module run with -m (whose argv[0] is its __main__.py), else argv[0]."""
    program = Path(sys.argv[0]) if sys.argv and sys.argv[0] else Path("python")
    return f"python -m {program.parent.name}" if program.name == "__main__.py" else str(program)
