"""Shared fixtures: the local data mirror and an isolated asset store."""

import os
from pathlib import Path

import pytest
from anchors import missing_anchor

from bench.common.assets import ENV_MIRROR, Store

REPO = Path(__file__).resolve().parents[1]


def _mirror_root() -> Path | None:
    """The mirror of public test data: $DERAIN_BENCH_MIRROR, else ../shared/data beside the clone."""
    candidate = Path(os.environ.get(ENV_MIRROR) or REPO.parent / "shared" / "data")
    return candidate if candidate.is_dir() else None


@pytest.fixture(scope="session")
def mirror() -> Path:
    root = _mirror_root()
    if root is None:
        missing_anchor(f"data mirror not found (set {ENV_MIRROR} or place it at ../shared/data)")
    return root


@pytest.fixture(scope="session")
def mirror_store(mirror: Path, tmp_path_factory: pytest.TempPathFactory) -> Store:
    """A store resolving from the mirror into a cache shared by the whole test session, never the network."""
    return Store(cache=tmp_path_factory.mktemp("cache"), mirror=mirror, offline=True)


@pytest.fixture
def offline_store(tmp_path: Path) -> Store:
    """An empty cache, no mirror, no network."""
    return Store(cache=tmp_path / "cache", offline=True)


@pytest.fixture
def mirrored_env(mirror: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The environment of a user working offline from the mirror, with an empty cache of their own."""
    monkeypatch.setenv(ENV_MIRROR, str(mirror))
    monkeypatch.setenv("DERAIN_BENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("DERAIN_BENCH_OFFLINE", "1")
