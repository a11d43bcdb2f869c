"""Downloadable files: each declared with its upstream URL, sha256 and licence.

A file is looked up, in order, in the cache (`DERAIN_BENCH_CACHE`, default `~/.cache/derain-bench`), in a
mirror directory (`--mirror` or `DERAIN_BENCH_MIRROR`) and finally on the network. Every byte is checked
against the declared sha256 before it is used, and a file only appears under its final name once its
checksum matched, so an interrupted download never looks complete.
"""

import hashlib
import http.client
import os
import shutil
import stat
import tarfile
import tempfile
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from bench.common.errors import AssetError, ChecksumError, OfflineError

ENV_CACHE = "DERAIN_BENCH_CACHE"
ENV_MIRROR = "DERAIN_BENCH_MIRROR"
ENV_OFFLINE = "DERAIN_BENCH_OFFLINE"

_CHUNK = 1 << 20
_DOWNLOAD_TIMEOUT_S = 60


@dataclass(frozen=True)
class Asset:
    """One downloadable file.

    `path` is relative and POSIX-style; the file lives at `<cache>/<path>` and at `<mirror>/<path>`.
    """

    path: str
    url: str
    sha256: str
    licence: str = "none stated"

    def __post_init__(self) -> None:
        parts = PurePosixPath(self.path).parts
        if not parts or self.path.startswith("/") or ".." in parts:
            raise ValueError(f"asset path must be relative and stay inside the cache: {self.path!r}")
        if len(self.sha256) != 64 or any(c not in "0123456789abcdef" for c in self.sha256):
            raise ValueError(f"asset {self.path}: sha256 must be 64 lowercase hex digits, got {self.sha256!r}")


def default_cache_root() -> Path:
    if env := os.environ.get(ENV_CACHE):
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "derain-bench"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class Store:
    """Where assets are resolved: a writable cache, an optional read-only mirror, and the network."""

    cache: Path
    mirror: Path | None = None
    offline: bool = False

    @classmethod
    def from_env(cls, cache: Path | None = None, mirror: Path | None = None) -> "Store":
        """Explicit arguments win over the environment variables."""
        mirror = mirror or (Path(m).expanduser() if (m := os.environ.get(ENV_MIRROR)) else None)
        if mirror is not None and not mirror.is_dir():
            raise AssetError(f"mirror directory {mirror} does not exist; fix --mirror or {ENV_MIRROR}")
        offline = os.environ.get(ENV_OFFLINE, "") not in ("", "0")
        return cls(cache=cache or default_cache_root(), mirror=mirror, offline=offline)

    def local_path(self, asset: Asset) -> Path:
        return self.cache / asset.path

    def fetch(self, asset: Asset) -> Path:
        """Return the verified cached copy of `asset`, copying or downloading it first when needed."""
        target = self.local_path(asset)
        if target.exists():
            actual = sha256_file(target)
            if actual != asset.sha256:
                raise ChecksumError(
                    f"{target} has sha256 {actual}, expected {asset.sha256} (from {asset.url}); "
                    "delete it and fetch again"
                )
            return target
        if self.mirror is not None and (mirrored := self.mirror / asset.path).is_file():
            with open(mirrored, "rb") as src:
                _write_verified(src, target, asset, source=str(mirrored))
            return target
        self._download(asset, target)
        return target

    def install(self, asset: Asset, file: Path) -> Path:
        """Copy a copy of `asset` you already have into the cache, verified like a download."""
        target = self.local_path(asset)
        if not target.exists():
            with open(file, "rb") as src:
                _write_verified(src, target, asset, source=str(file))
        return self.fetch(asset)

    def _download(self, asset: Asset, target: Path) -> None:
        def offline_error(reason: str) -> OfflineError:
            return OfflineError(
                f"cannot download {asset.url} ({reason}); put the file at {target} (sha256 {asset.sha256}) "
                f"or point --mirror/{ENV_MIRROR} at a folder holding {asset.path}"
            )

        if self.offline:
            raise offline_error(f"{ENV_OFFLINE} is set")
        try:
            with urllib.request.urlopen(asset.url, timeout=_DOWNLOAD_TIMEOUT_S) as response:
                _write_verified(response, target, asset, source=asset.url, size=response.length)
        except (urllib.error.URLError, TimeoutError, ConnectionError, http.client.HTTPException) as exc:
            raise offline_error(str(getattr(exc, "reason", exc)) or type(exc).__name__) from exc


def _write_verified(src: BinaryIO, target: Path, asset: Asset, *, source: str, size: int | None = None) -> None:
    """Stream `src` into `target`, renaming into place only when the sha256 matches (and, when the sender
    announced `size` bytes, all of them arrived: a transfer cut short is said to be one)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        received = 0
        with os.fdopen(fd, "wb") as dst:
            while chunk := src.read(_CHUNK):
                digest.update(chunk)
                dst.write(chunk)
                received += len(chunk)
        if size is not None and received < size:
            raise AssetError(
                f"the download of {source} was interrupted after {received:,} of {size:,} bytes; nothing was "
                "kept, so running again starts it anew"
            )
        if digest.hexdigest() != asset.sha256:
            raise ChecksumError(
                f"{source} has sha256 {digest.hexdigest()}, expected {asset.sha256} for {asset.path} "
                f"(upstream {asset.url}); the file is corrupt or not the declared version"
            )
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def extract_archive(archive: Path, target: Path) -> None:
    """Unpack a zip or tar archive into the new folder `target`, refusing anything unsafe.

    No member may land outside `target` (absolute paths, `..`), and links, devices and FIFOs are
    refused. The archive is unpacked next to `target` and renamed into place only when complete.
    """
    if target.exists():
        raise AssetError(f"{target} already exists; remove it before extracting {archive.name} there")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part"))
    try:
        if zipfile.is_zipfile(archive):
            _extract_zip(archive, staging)
        elif tarfile.is_tarfile(archive):
            _extract_tar(archive, staging)
        else:
            raise AssetError(f"{archive} is neither a zip nor a tar archive")
        os.replace(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _safe_member_path(archive: Path, root: Path, name: str) -> Path:
    relative = PurePosixPath(name.replace("\\", "/"))
    if relative.is_absolute() or ".." in relative.parts or (relative.parts and ":" in relative.parts[0]):
        raise AssetError(f"{archive}: member '{name}' would land outside the target folder; refusing to extract")
    return root.joinpath(*relative.parts)


def _extract_zip(archive: Path, root: Path) -> None:
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            destination = _safe_member_path(archive, root, info.filename)
            if stat.S_ISLNK(info.external_attr >> 16):
                raise AssetError(f"{archive}: member '{info.filename}' is a link; links are refused")
            if info.is_dir():
                destination.mkdir(parents=True, exist_ok=True)
                continue
            destination.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as src, open(destination, "wb") as dst:
                shutil.copyfileobj(src, dst, _CHUNK)


def _extract_tar(archive: Path, root: Path) -> None:
    with tarfile.open(archive) as tf:
        members = tf.getmembers()
        for member in members:
            _safe_member_path(archive, root, member.name)
            if member.issym() or member.islnk():
                raise AssetError(f"{archive}: member '{member.name}' is a link; links are refused")
            if not (member.isfile() or member.isdir()):
                raise AssetError(f"{archive}: member '{member.name}' is not a regular file or folder; refusing")
        # the checks above give readable errors; the 'data' filter is the standard library's second guard
        tf.extractall(root, members=members, filter="data")
