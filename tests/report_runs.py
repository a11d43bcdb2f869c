"""Small finished runs for the report, compare and browser tests: the toy method and identity on random pairs."""

from pathlib import Path

import pytest
from image_folders import pair_folder

from bench.cli import main
from bench.methods import registry

TOY = "brighten-blur"
NAMES = tuple(f"img{i:02d}" for i in range(8))


def toy_run(out: Path, *, save_images: bool = True, extra: tuple[str, ...] = (), seed: int = 0) -> Path:
    """`bench run` of identity and the toy method on 8 random 48x64 pairs into `out`; returns `out`."""
    pairs = pair_folder(out.parent / f"{out.name}-pairs", names=NAMES, size=(48, 64), seed=seed)
    args = ["run", "--methods", f"{TOY},identity", "--dataset-dir", str(pairs), "--out", str(out), "--no-progress"]
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(registry.METHODS, TOY, "toy_methods:build")
        assert main([*args, *(["--save-images"] if save_images else []), *extra]) == 0
    return out
