"""A folder of outputs a method wrote elsewhere, scored as a method cell of its own kind: "outputs".

`bench score OUTPUTS --dataset NAME --name MYNET` pairs the files with the set's images by name
(`bench.data.pairing.pair_outputs`), validates them as inputs are validated (`bench.data.validation.check_outputs`),
and scores each file exactly as it decodes. The cell records the name, the declared description, training sets,
parameters and MACs, the folder, every file's sha256 and a fingerprint over them; it has no weights and no forward
time. A declared training set makes the training-overlap warning work as it does for registered weights.
"""

import hashlib
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from bench.common.assets import Store
from bench.common.errors import BenchError
from bench.data import Dataset, Sample
from bench.data.images import read_image
from bench.data.pairing import pair_outputs
from bench.data.validation import check_outputs
from bench.methods.contract import MethodSpec, Quantisation


@dataclass(frozen=True)
class DeclaredOutputs:
    """What the user says about a folder of outputs; everything here is recorded as declared, never checked."""

    folder: str
    name: str
    description: str = ""
    trained_on: tuple[str, ...] = ()  # dataset names
    params: int | None = None
    gmacs: float | None = None


class OutputsMethod:
    """The outputs in one folder, bound to the one dataset they are scored on (`bind`)."""

    kind = "outputs"

    def __init__(self, declared: DeclaredOutputs):
        self.declared = declared
        trained_on = ", ".join(declared.trained_on) or None
        self.spec = MethodSpec(
            name=declared.name,
            summary=declared.description or f"outputs in {declared.folder}",
            quantisation=Quantisation.AS_SAVED,
            trained_on=trained_on or "not declared (--trained-on)",
            training_set=trained_on or "",
            trained_on_source="declared (--trained-on)" if trained_on else "",
            training_overlaps={name: f"declared trained on {name} (--trained-on)" for name in declared.trained_on},
            input_range="8-bit files, decoded as inputs are",
            size_policy="as saved: the size of the image, never resized or cropped",
        )
        self.device = torch.device("cpu")
        self.loaded_weights = None
        self.folder = Path(declared.folder).resolve()
        self._files: dict[str, str] = {}
        self._digests: dict[str, str] = {}
        self._naming = ""
        self.warnings: tuple[str, ...] = ()

    def bind(self, dataset: Dataset, *, limit: int | None, allow_incomplete: bool) -> Dataset:
        """Pair and validate the outputs with `dataset`'s images (its first `limit`); the dataset to score: the same,
        or with `allow_incomplete` only the images that have an output, marked incomplete."""
        if not self.folder.is_dir():
            raise BenchError(f"outputs folder {self.folder} is not a folder")
        samples = dataset.samples[:limit] if limit else dataset.samples
        pairing = pair_outputs(self.folder, samples, allow_missing=allow_incomplete)
        self.warnings, self._digests = check_outputs(self.folder, samples, pairing.files, dataset.file_checksums())
        self._files, self._naming = pairing.files, pairing.naming
        if pairing.missing:
            self.warnings += (f"partial: {len(pairing.missing)} of {len(samples)} images have no output",)
            return replace(dataset, samples=tuple(s for s in samples if s.name in pairing.files), complete=False)
        return dataset

    def prepare(self, store: Store, device: torch.device, weights: Path | None = None) -> None:
        if weights is not None:
            raise BenchError(f"{self.spec.name}: --weights applies to networks, not to a folder of outputs")
        self.device = device

    def read_output(self, sample: Sample) -> np.ndarray:
        """The output of `sample`, decoded as any input is (8-bit RGB)."""
        return read_image(self.folder / self._files[sample.name])

    def recorded(self, sample: Sample) -> dict:
        return {"output_file": self._files[sample.name], "output_sha256": self._digests[sample.name]}

    def describe(self) -> dict:
        lines = sorted(f"{name} {digest}" for name, digest in self._digests.items())
        return {
            **self.spec.describe(),
            "kind": self.kind,
            "loaded_weights": None,
            "outputs": {
                "folder": str(self.folder),
                "naming": self._naming,
                "files": {name: {"file": self._files[name], "sha256": self._digests[name]} for name in self._files},
                "fingerprint": hashlib.sha256("\n".join(lines).encode()).hexdigest(),
                "warnings": list(self.warnings),
            },
            "declared": {"params": self.declared.params, "gmacs": self.declared.gmacs},
        }
