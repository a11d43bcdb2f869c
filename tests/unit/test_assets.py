"""The asset layer: cache -> mirror -> network, checksums, atomic writes, safe extraction."""

import hashlib
import http.server
import io
import os
import tarfile
import threading
import zipfile
from pathlib import Path

import pytest

from bench.common.assets import Asset, Store, extract_archive
from bench.common.errors import AssetError, ChecksumError, OfflineError

PAYLOAD = b"derain-bench test payload\n" * 100
PAYLOAD_SHA = hashlib.sha256(PAYLOAD).hexdigest()


def _asset(url: str = "https://example.invalid/weights.pth", sha256: str = PAYLOAD_SHA) -> Asset:
    return Asset(path="weights/demo/weights.pth", url=url, sha256=sha256)


def _files_under(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


@pytest.fixture
def mirror_dir(tmp_path: Path) -> Path:
    mirror = tmp_path / "mirror"
    (mirror / "weights/demo").mkdir(parents=True)
    (mirror / "weights/demo/weights.pth").write_bytes(PAYLOAD)
    return mirror


def test_fetch_copies_from_mirror_into_cache_and_verifies(tmp_path, mirror_dir):
    store = Store(cache=tmp_path / "cache", mirror=mirror_dir, offline=True)
    path = store.fetch(_asset())
    assert path == tmp_path / "cache/weights/demo/weights.pth"
    assert path.read_bytes() == PAYLOAD
    # a second fetch uses the cache even when the mirror is gone
    (mirror_dir / "weights/demo/weights.pth").unlink()
    assert store.fetch(_asset()) == path


def test_mirror_file_with_wrong_checksum_is_refused_and_nothing_is_cached(tmp_path, mirror_dir):
    (mirror_dir / "weights/demo/weights.pth").write_bytes(PAYLOAD + b"tampered")
    store = Store(cache=tmp_path / "cache", mirror=mirror_dir, offline=True)
    with pytest.raises(ChecksumError) as excinfo:
        store.fetch(_asset())
    message = str(excinfo.value)
    assert PAYLOAD_SHA in message and "weights/demo/weights.pth" in message and "\n" not in message
    assert _files_under(tmp_path / "cache") == []


def test_corrupt_cached_file_is_reported_not_used(tmp_path):
    store = Store(cache=tmp_path / "cache", offline=True)
    cached = store.local_path(_asset())
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"garbage")
    with pytest.raises(ChecksumError, match="delete it"):
        store.fetch(_asset())


def test_offline_error_names_url_expected_path_and_hash(tmp_path):
    store = Store(cache=tmp_path / "cache", offline=True)
    with pytest.raises(OfflineError) as excinfo:
        store.fetch(_asset())
    message = str(excinfo.value)
    assert "https://example.invalid/weights.pth" in message
    assert str(tmp_path / "cache/weights/demo/weights.pth") in message
    assert PAYLOAD_SHA in message
    assert "DERAIN_BENCH_MIRROR" in message


def test_unreachable_host_gives_offline_error(tmp_path):
    store = Store(cache=tmp_path / "cache")
    with pytest.raises(OfflineError, match="cannot download"):
        store.fetch(_asset(url="http://127.0.0.1:9/weights.pth"))  # port 9 (discard): connection refused


class _Server:
    """A local HTTP server serving a fixed body, standing in for an upstream host; `announced` bytes are promised
    in Content-Length (by default the body's length: more makes an interrupted transfer)."""

    def __init__(self, body: bytes, announced: int | None = None):
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Length", str(announced or len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}/weights.pth"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def test_download_verifies_then_renames(tmp_path):
    server = _Server(PAYLOAD)
    try:
        path = Store(cache=tmp_path / "cache").fetch(_asset(url=server.url))
    finally:
        server.close()
    assert path.read_bytes() == PAYLOAD


def test_download_with_wrong_bytes_leaves_no_file(tmp_path):
    server = _Server(PAYLOAD[:-10])  # a truncated transfer
    try:
        with pytest.raises(ChecksumError, match=PAYLOAD_SHA):
            Store(cache=tmp_path / "cache").fetch(_asset(url=server.url))
    finally:
        server.close()
    assert _files_under(tmp_path / "cache") == []


def test_an_interrupted_download_leaves_nothing_and_the_next_attempt_starts_clean(tmp_path):
    cut = _Server(PAYLOAD[:1000], announced=len(PAYLOAD))  # the connection closes 1,000 bytes into the file
    try:
        with pytest.raises(AssetError, match=r"was interrupted after 1,000 of 2,600 bytes; nothing was kept"):
            Store(cache=tmp_path / "cache").fetch(_asset(url=cut.url))
    finally:
        cut.close()
    assert _files_under(tmp_path / "cache") == []  # no partial file, under its name or any other
    whole = _Server(PAYLOAD)
    try:
        assert Store(cache=tmp_path / "cache").fetch(_asset(url=whole.url)).read_bytes() == PAYLOAD
    finally:
        whole.close()


def test_asset_declaration_is_checked():
    with pytest.raises(ValueError, match="relative"):
        Asset(path="../outside.pth", url="u", sha256=PAYLOAD_SHA)
    with pytest.raises(ValueError, match="sha256"):
        Asset(path="a.pth", url="u", sha256="abc")


def test_store_from_env_reads_variables(tmp_path, mirror_dir, monkeypatch):
    monkeypatch.setenv("DERAIN_BENCH_CACHE", str(tmp_path / "c"))
    monkeypatch.setenv("DERAIN_BENCH_MIRROR", str(mirror_dir))
    monkeypatch.setenv("DERAIN_BENCH_OFFLINE", "1")
    store = Store.from_env()
    assert (store.cache, store.mirror, store.offline) == (tmp_path / "c", mirror_dir, True)
    monkeypatch.setenv("DERAIN_BENCH_MIRROR", str(tmp_path / "missing"))
    with pytest.raises(AssetError, match="does not exist"):
        Store.from_env()


# ---- archives ----------------------------------------------------------------------------------------


def _zip(path: Path, members: dict[str, bytes], symlink: str | None = None) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, content in members.items():
            zf.writestr(name, content)
        if symlink is not None:
            info = zipfile.ZipInfo(symlink)
            info.external_attr = 0o120777 << 16  # a symbolic link, as zip tools store one
            zf.writestr(info, "/etc/passwd")
    return path


def _tar(path: Path, members: dict[str, bytes], link: tuple[str, str] | None = None) -> Path:
    with tarfile.open(path, "w:gz") as tf:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tf.addfile(info, io.BytesIO(content))
        if link is not None:
            info = tarfile.TarInfo(link[0])
            info.type = tarfile.SYMTYPE
            info.linkname = link[1]
            tf.addfile(info)
    return path


def test_zip_and_tar_extract_into_target(tmp_path):
    members = {"set/rain/1.png": b"r", "set/norain/1.png": b"c"}
    extract_archive(_zip(tmp_path / "a.zip", members), tmp_path / "from_zip")
    extract_archive(_tar(tmp_path / "a.tar.gz", members), tmp_path / "from_tar")
    for target in ("from_zip", "from_tar"):
        assert _files_under(tmp_path / target) == ["set/norain/1.png", "set/rain/1.png"]
        assert (tmp_path / target / "set/rain/1.png").read_bytes() == b"r"


@pytest.mark.parametrize("evil", ["../escaped.png", "/abs/escaped.png", "set/../../escaped.png"])
def test_members_outside_target_are_refused(tmp_path, evil):
    for archive in (_zip(tmp_path / "evil.zip", {evil: b"x"}), _tar(tmp_path / "evil.tar.gz", {evil: b"x"})):
        target = tmp_path / f"out-{archive.name}"
        with pytest.raises(AssetError, match="outside the target folder"):
            extract_archive(archive, target)
        assert not target.exists()
    assert not (tmp_path / "escaped.png").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no staging left behind


def test_links_in_archives_are_refused(tmp_path):
    with pytest.raises(AssetError, match="link"):
        extract_archive(_zip(tmp_path / "l.zip", {"ok.png": b"x"}, symlink="link"), tmp_path / "z")
    with pytest.raises(AssetError, match="link"):
        extract_archive(_tar(tmp_path / "l.tar.gz", {"ok.png": b"x"}, link=("link", "/etc/passwd")), tmp_path / "t")
    assert not (tmp_path / "z").exists() and not (tmp_path / "t").exists()


def test_extract_refuses_existing_target_and_non_archives(tmp_path):
    archive = _zip(tmp_path / "a.zip", {"x.png": b"x"})
    (tmp_path / "taken").mkdir()
    with pytest.raises(AssetError, match="already exists"):
        extract_archive(archive, tmp_path / "taken")
    not_archive = tmp_path / "plain.txt"
    not_archive.write_text("hello")
    with pytest.raises(AssetError, match="neither a zip nor a tar"):
        extract_archive(not_archive, tmp_path / "out")
    assert os.listdir(tmp_path / "taken") == []
