"""The official MATLAB evaluation files: assets like weights, each at a pinned upstream commit with its sha256.

Each `OfficialScript` names the files a protocol's numbers come from and how derain-bench's driver calls them:
`statistic` scripts (PReNet, BRN, RCDNet, DRSformer) score with the functions `psnr.m` and `ssim.m` on the
search path; `evaluate` scripts (Restormer, MPRNet) keep `compute_psnr`, `compute_ssim` and `SSIM_index` as
local functions of a script that also hard-codes folders and needs `parpool`, so the driver runs those
functions' text, cut from the verified file at run time, unchanged. The files are never committed or edited.
"""

import shutil
from dataclasses import dataclass
from pathlib import Path

from bench.common.assets import Asset, Store
from bench.common.errors import AssetError

WANG_NOTICE = "Zhou Wang's notice: educational and research use, copyright notice kept"

# Functions the `evaluate` driver calls; the cut-out text must define each of them.
EVALUATE_FUNCTIONS = ("compute_ssim", "compute_psnr", "SSIM_index")
EVALUATE_FUNCTIONS_FILE = "derain_bench_evaluate_functions.m"


@dataclass(frozen=True)
class OfficialScript:
    """One repository's scoring code for one protocol."""

    name: str
    protocol: str
    repository: str
    commit: str
    folder: str  # the scripts' folder upstream, also their folder under official_eval/<Repo>/ in a mirror
    files: tuple[tuple[str, str], ...]  # (file name, sha256)
    driver: str  # "statistic" or "evaluate"
    licence: str = "none stated"

    def assets(self) -> list[Asset]:
        return [
            Asset(
                path=f"official_eval/{self.repository.split('/')[1]}/{self.folder}/{file}",
                url=f"https://raw.githubusercontent.com/{self.repository}/{self.commit}/{self.folder}/{file}",
                sha256=sha256,
                licence=self.licence,
            )
            for file, sha256 in self.files
        ]

    def describe(self) -> dict:
        return {
            "name": self.name,
            "protocol": self.protocol,
            "repository": self.repository,
            "commit": self.commit,
            "files": {asset.path: asset.sha256 for asset in self.assets()},
            "driver": self.driver,
        }

    def install(self, store: Store, folder: Path) -> None:
        """Fetch and verify the files, then put into `folder` what the driver runs (the files, unchanged, or
        for `evaluate` scripts the text of their local functions)."""
        folder.mkdir(parents=True, exist_ok=True)
        for asset in self.assets():
            verified = store.fetch(asset)
            if self.driver == "statistic":
                shutil.copyfile(verified, folder / Path(asset.path).name)
            else:
                (folder / EVALUATE_FUNCTIONS_FILE).write_bytes(_local_functions(verified))


def _local_functions(script: Path) -> bytes:
    """The script's function definitions, from its first `function` line to the end, as an Octave script file
    (`1;` first, so that `source` defines them) that runs nothing else. Bytes are kept as they are."""
    text = script.read_bytes().decode("latin-1")  # byte for byte, whatever the file's encoding
    lines = text.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if line.lstrip().startswith("function ")), None)
    body = "".join(lines[start:]) if start is not None else ""
    missing = [name for name in EVALUATE_FUNCTIONS if f"{name}(" not in body.replace(" ", "")]
    if missing:
        raise AssetError(
            f"{script} does not define {', '.join(missing)} as local functions; it is not the file expected"
        )
    return ("1;\n" + body).encode("latin-1")


_SSIM_M = "6836530d8a36d90a7e59010657d344e16bccc3a2f6d98f1fbd7e48f0cc6c11a6"  # one file in all four repositories


def _statistic(name: str, repository: str, commit: str, folder: str, psnr_sha256: str) -> OfficialScript:
    """A repository whose statistic script calls psnr.m and Wang's ssim.m (the files differ in comments only)."""
    files = (("psnr.m", psnr_sha256), ("ssim.m", _SSIM_M))
    return OfficialScript(name, "matlab-double", repository, commit, folder, files, "statistic", WANG_NOTICE)


def _evaluate(name: str, repository: str, commit: str, sha256: str) -> OfficialScript:
    """A repository whose evaluate_PSNR_SSIM.m holds compute_psnr, compute_ssim and SSIM_index."""
    licence = "the repository's licence; SSIM_index carries " + WANG_NOTICE
    files = (("evaluate_PSNR_SSIM.m", sha256),)
    return OfficialScript(name, "matlab-uint8", repository, commit, "Deraining", files, "evaluate", licence)


_PRENET_PSNR_M = "9c059caa6d56c666edbeb4de9450dd6c03ab26b01151be0a0bdada9926d7baea"  # BRN's is the same file

OFFICIAL_SCRIPTS: tuple[OfficialScript, ...] = (
    _statistic("prenet", "csdwren/PReNet", "6d908d1e3c7ff5c26fee624112297ad1c8603ca7", "statistic", _PRENET_PSNR_M),
    _statistic("brn", "shangwei5/BRN", "bf67b831cc0a613c51d32c702cf8cdf45ee8685b", "statistics", _PRENET_PSNR_M),
    _statistic(
        "rcdnet",
        "hongwang01/RCDNet",
        "c6e1539697590452ce0ceb6d6e3bb897e8f65f90",
        "Performance_evaluation",
        "2297c36b4f1b27e5d05b9c700ec4c733766a381104acf5071d3c3cdd8941093c",
    ),
    _statistic(
        "drsformer",
        "cschenxiang/DRSformer",
        "e77bbb4ecc59aaa2cd170a0f8f65b188a9dd77c6",
        "evaluations/Evaluation_DID-Data_DDN-Data",
        "aa6e7bb0e8ce37e1e4d13051d7287c94f4c1c56bfd48f7083518dadbbc36b117",
    ),
    _evaluate(
        "restormer",
        "swz30/Restormer",
        "df766d5521afd21cce56e24159f300b30ebf3fb0",
        "ad2b38d35353d07bf6ec50866ac886ee4e942dc278acc4df45172597e64515d1",
    ),
    _evaluate(
        "mprnet",
        "swz30/MPRNet",
        "43feb2aed45f5e0b9082c78c8c455160e30a3a82",
        "7a9343ee1eddc83c7a536a05c05344df0f69cceacb5ed7460d90b301eaf501ca",
    ),
)
