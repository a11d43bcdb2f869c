"""`python -m bench`: parse, call, print. Errors caused by input are one line on stderr and exit code 2."""

import argparse
import os
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path

from bench.common.errors import BenchError

EXIT_CHECK_FAILED = 1
EXIT_INPUT_ERROR = 2
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 128 + signal.SIGPIPE  # what a shell reports for a program killed by SIGPIPE, as `ls | head` is

EXAMPLES = """examples:
  python -m bench run --methods prenet,ugsm,identity --datasets rain12   # derain and score; prints a table
  python -m bench reproduce --suite quick --out results/quick            # published numbers, checked
  python -m bench report results/quick/rain12 --out results/report.html  # one HTML report of stored results"""


METRICS_HELP = "psnr,ssim,lpips,niqe,niqe-pyiqa (default psnr,ssim; niqe-pyiqa: pyiqa itself, the pyiqa extra)"


def _names(text: str) -> tuple[str, ...]:
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    if not names:
        raise argparse.ArgumentTypeError("expected one or more comma-separated names")
    return names


def _weights_file(text: str) -> tuple[str, str]:
    name, sep, path = text.partition("=")
    if not (sep and name.strip() and path):
        raise argparse.ArgumentTypeError("expected NAME=PATH, e.g. msdr=runs/msdr.pt")
    return name.strip(), path


def _add_store_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--mirror", type=Path, help="local mirror consulted before the network ($DERAIN_BENCH_MIRROR)")
    parser.add_argument("--cache", type=Path, help="cache root ($DERAIN_BENCH_CACHE, default ~/.cache/derain-bench)")


def _add_selection_options(parser: argparse.ArgumentParser, methods_required: bool = True) -> None:
    """What runs on what, and how: shared by `run` and `conformance`."""
    parser.add_argument(
        "--methods", type=_names, required=methods_required, default=(), help="comma-separated, e.g. prenet.rain100h"
    )
    parser.add_argument("--datasets", type=_names, default=(), help="comma-separated dataset names (default: demo)")
    parser.add_argument("--dataset-dir", help="score your own folder (layout detected; with one --datasets, its card)")
    parser.add_argument("--rainy-dir", help="score two folders of yours: the rainy images (with --clean-dir)")
    parser.add_argument(
        "--clean-dir", help="the ground truth of --rainy-dir, paired by file name, then by name without extension"
    )
    parser.add_argument("--limit", type=int, help="score only the first N images of each dataset")
    parser.add_argument("--device", default="auto", help="auto (CUDA when available), cpu, cuda, cuda:1 ...")
    parser.add_argument("--threads", type=int, help="CPU threads for torch (default: torch's choice; recorded)")
    parser.add_argument(
        "--batch-size",
        type=int,
        default=1,
        help="images of one size through the network together (default 1; recorded; published numbers are "
        "compared at 1)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of every generator (default 0; recorded)")
    parser.add_argument(
        "--weights",
        type=_weights_file,
        action="append",
        default=[],
        metavar="NAME=PATH",
        help="your weights file for method NAME (without @protocol) instead of its declared weights",
    )
    parser.add_argument(
        "--allow-incomplete",
        action="store_true",
        help="accept fewer pairs than a dataset card expects, and score the complete pairs of a folder where some "
        "files have no pair (both a partial result: no published comparison)",
    )


def _add_outputs_options(parser: argparse.ArgumentParser, name_required: bool) -> None:
    """Which set a folder of outputs belongs to, and what it is called: shared by `score` and `audit`."""
    parser.add_argument("--dataset", help="the registered set the outputs were made from, e.g. rain100h")
    parser.add_argument("--rainy-dir", help="a set of your own: its rainy images (with --clean-dir)")
    parser.add_argument("--clean-dir", help="a set of your own: its ground truth (with --rainy-dir)")
    parser.add_argument(
        "--name",
        required=name_required,
        default=None if name_required else "outputs",
        help="what your method is called in the results, e.g. mynet" + ("" if name_required else " (default outputs)"),
    )
    parser.add_argument("--limit", type=int, help="score only the first N images of the set (marked as partial)")
    parser.add_argument(
        "--allow-incomplete",
        action="store_true",
        help="score the images that have an output when some have none (a partial result: no published comparison)",
    )


def _add_output_options(parser: argparse.ArgumentParser, out_help: str) -> None:
    parser.add_argument("--out", type=Path, help=out_help)
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace results already in --out, or discard an interrupted run there (which the same command resumes)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


class _VersionAction(argparse.Action):
    """`--version`: computed only when asked for (it runs git)."""

    def __init__(self, option_strings, dest, **kwargs):
        super().__init__(option_strings, dest, nargs=0, help="print the version and the commit, then exit")

    def __call__(self, parser, namespace, values, option_string=None):
        from bench.common.checkout import version_line

        print(version_line())
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    prog = "derain-bench" if Path(sys.argv[0]).name == "derain-bench" else "python -m bench"
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Reproducible deraining benchmarks.",
        epilog=EXAMPLES.replace("python -m bench", prog),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action=_VersionAction)
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser(
        "run",
        help="derain and score: methods x datasets",
        epilog=EXAMPLES.replace("python -m bench", prog),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_selection_options(run)
    run.add_argument(
        "--no-ground-truth",
        action="store_true",
        help="--dataset-dir holds rainy images only (real rain): no-reference metrics, e.g. --metrics niqe",
    )
    run.add_argument("--metrics", type=_names, default=("psnr", "ssim"), help=METRICS_HELP)
    run.add_argument("--protocols", type=_names, default=("matlab-double",), help="PSNR/SSIM conventions, or 'all'")
    run.add_argument(
        "--skip-unavailable-metrics",
        action="store_true",
        help="drop a metric whose backend files are missing (recorded in the results) instead of stopping",
    )
    run.add_argument(
        "--save-images",
        action="store_true",
        help="keep every output as scored (lossless PNG, sha256 in its row), with the inputs, under OUT/images/ "
        "(what `report` shows in its visual comparison)",
    )
    run.add_argument("--profile", action="store_true", help="also measure params, FLOPs, latency and peak memory")
    run.add_argument("--profile-runs", type=int, default=20, help="timed forward passes per profile (default 20)")
    run.add_argument("--profile-warmup", type=int, default=3, help="untimed passes before them (default 3)")
    run.add_argument("--profile-amp", choices=("bf16", "fp16"), help="autocast the profiled passes (GPU)")
    run.add_argument("--profile-channels-last", action="store_true", help="channels-last memory format (GPU)")
    run.add_argument(
        "--workers",
        type=int,
        help="threads decoding ahead of the model and scoring behind it (default: the CPU cores the model does not "
        "use: all of them for CUDA, those beyond --threads on CPU; 0: all in series); the numbers do not depend on it",
    )
    run.add_argument(
        "--shard",
        metavar="I/N",
        help="compute only shard I of N (from 0; the images i with i %% N == I) into a shard folder, for a job array "
        "without rendezvous; `merge` joins the N shard folders into one result",
    )
    _add_output_options(run, "results folder (default: results/<time>-<config hash>)")
    _add_store_options(run)

    score = commands.add_parser(
        "score",
        help="score a folder of your outputs against a set's ground truth, as a method of its own",
        description="Pair the files in OUTPUTS with the images of --dataset (or of --rainy-dir/--clean-dir) by name, "
        "never by order: an output may carry the rainy input's name, the ground truth's, either with another "
        "extension, or the number in the rainy input's name (1.png for rain-001.png). Validate them as inputs "
        "(8-bit, no transparency, the image's size), score them exactly as they decode, and write the same results "
        "as `run`, with a method cell of kind outputs. Exit 2 on bad input, with nothing written.",
    )
    score.add_argument("outputs", type=Path, metavar="OUTPUTS", help="the folder of your derained images")
    _add_outputs_options(score, name_required=True)
    score.add_argument("--description", default="", help="one line on the method, recorded")
    score.add_argument(
        "--trained-on",
        type=_names,
        default=(),
        help="the sets it was trained on (dataset names), for the overlap check",
    )
    score.add_argument("--params", type=int, help="its parameter count, recorded and shown as declared")
    score.add_argument("--gmacs", type=float, help="its GMACs per image, recorded and shown as declared")
    score.add_argument("--metrics", type=_names, default=("psnr", "ssim"), help=METRICS_HELP)
    score.add_argument("--protocols", type=_names, default=("matlab-double",), help="PSNR/SSIM conventions, or 'all'")
    score.add_argument("--device", default="auto", help="where LPIPS runs: auto, cpu, cuda ...")
    score.add_argument(
        "--skip-unavailable-metrics", action="store_true", help="drop a metric whose backend files are missing"
    )
    score.add_argument(
        "--save-images", action="store_true", help="also keep the inputs and each output as scored under OUT/images/"
    )
    _add_output_options(score, "results folder (default: results/<time>-<config hash>)")
    _add_store_options(score)

    audit = commands.add_parser(
        "audit",
        help="why does a claimed number differ? which way of scoring reproduces it, and how far the others are",
        description="Score a folder of outputs (with --dataset or --rainy-dir/--clean-dir), or read a finished "
        "run's folder, under every protocol and the variants that move numbers in practice (MSE pooled over the "
        "set, a border crop, SSIM without downsampling, scikit-image's 7x7 window), and say which give the claimed "
        "number within its own rounding. Exit 0 when every claim is reproduced by one, 1 when not, 2 on bad input.",
    )
    audit.add_argument("source", type=Path, metavar="OUTPUTS|RUN", help="a folder of outputs, or a results folder")
    audit.add_argument("--claimed", required=True, help="the numbers to explain, e.g. psnr=31.46,ssim=0.904")
    _add_outputs_options(audit, name_required=False)
    audit.add_argument("--method", help="for a run folder holding several methods: which one")
    audit.add_argument("--device", default="cpu", help=argparse.SUPPRESS)
    audit.add_argument("--no-progress", action="store_true", help="no progress bar")
    _add_store_options(audit)

    conformance = commands.add_parser(
        "conformance",
        help="score the outputs with the official MATLAB scripts in GNU Octave and compare, image by image",
        description="Run the methods, save every output exactly as scored, score those files with the official "
        "MATLAB scripts in GNU Octave (apt-get install octave octave-image) and report, per script and metric, "
        "the largest |ours - official| and its image. Exit 0 when all are within tolerance "
        "(PSNR 1e-6 dB, SSIM 1e-7), 1 when not, 2 on bad input.",
    )
    _add_selection_options(conformance, methods_required=False)
    conformance.add_argument(
        "--outputs", type=Path, help="instead of --methods: a folder of your outputs (paired as `score` pairs them)"
    )
    conformance.add_argument("--dataset", help="with --outputs: the registered set they belong to")
    conformance.add_argument("--name", default="outputs", help="with --outputs: the method's name (default outputs)")
    conformance.add_argument(
        "--protocols",
        type=_names,
        default=("matlab-double", "matlab-uint8"),
        help="protocols that have official scripts (default matlab-double,matlab-uint8)",
    )
    conformance.add_argument(
        "--scripts",
        type=_names,
        default=(),
        help="prenet,brn,rcdnet,drsformer (matlab-double), restormer,mprnet (matlab-uint8), or 'all' "
        "(default: prenet and restormer)",
    )
    _add_output_options(
        conformance, "folder for outputs, Octave files and conformance.json (default: results/<time>-conformance)"
    )
    _add_store_options(conformance)

    report = commands.add_parser(
        "report",
        help="one self-contained HTML report of stored results (never runs a model)",
        description="Render stored results into one HTML file: leaderboard with bootstrap CIs and published "
        "numbers, paired comparisons (Wilcoxon, Holm), protocol spread, plots, and a visual comparison of the "
        "images runs kept with --save-images. Several runs merge when comparable; otherwise the report is refused.",
    )
    report.add_argument("runs", nargs="+", type=Path, metavar="RUN", help="results folders (or results.json files)")
    report.add_argument(
        "--out", type=Path, default=Path("results/report.html"), help="HTML file (default results/report.html)"
    )
    report.add_argument(
        "--suite", help="hold published numbers to this reproduction suite's tolerances (default 0.01 dB / 0.001)"
    )

    reproduce = commands.add_parser(
        "reproduce",
        help="run a reproduction suite (reports/suites/NAME.toml) and check published numbers",
        description="Run every group of the suite into OUT/<group>/ (images kept), check each published number "
        "within its tolerance, write OUT/report.html and OUT/reproduce.json, print published | reproduced | "
        "difference | ✓/✗. Exit 0 when every check passes, 1 when one fails, 2 on bad input.",
    )
    reproduce.add_argument("--suite", default="full", help="suite name or .toml file (default full; quick for CI)")
    reproduce.add_argument("--out", type=Path, help="output folder (default results/<time>-<suite>)")
    reproduce.add_argument("--overwrite", action="store_true", help="replace a reproduction already in --out")
    reproduce.add_argument(
        "--report-only",
        action="store_true",
        help="run nothing: check and report the group results already in --out",
    )
    reproduce.add_argument("--no-progress", action="store_true", help="no progress bar")
    _add_store_options(reproduce)

    from bench.results.compare import describe_tolerances

    compare = commands.add_parser(
        "compare",
        help="the drift gate: compare two results cell by cell (exit 1 on drift or incomparable)",
        description="Compare every (method, dataset, column) of NEW with BASE, the mean and every per-image "
        "value: same, within hardware noise (runs on different hardware only), drifted (either direction), new, "
        "missing, or incomparable (protocol definition, weights, dataset copy, inference protocol, metric backend "
        "or images differ). On the same hardware a changed output PNG (sha256) is drift too. "
        + describe_tolerances()
        + " Exit 0 when nothing drifted, 1 on drift, incomparable or missing cells, 2 on bad input.",
    )
    compare.add_argument("base", type=Path, metavar="BASE", help="reference results (folder or results.json)")
    compare.add_argument("new", type=Path, metavar="NEW", help="results to check (folder or results.json)")
    compare.add_argument(
        "--tolerance",
        action="append",
        default=[],
        metavar="METRIC=VALUE",
        help="override one metric's same-hardware tolerance, e.g. psnr=0.01 (dB) or lpips=0.002 (relative); "
        "across hardware the larger of it and the hardware-noise tolerance applies; repeatable",
    )

    merge = commands.add_parser(
        "merge",
        help="join the shard folders of one `run --shard I/N` command into one results folder",
        description="Join the N shard folders of one `bench run --shard I/N` command (a job array) into one results "
        "folder, equal to a single process's run: every shard 0..N-1 exactly once, finished, of one configuration "
        "and commit, every image exactly once. The shard folders are left as they are.",
    )
    merge.add_argument("shards", type=Path, nargs="+", metavar="SHARD", help="the N shard folders")
    _add_output_options(merge, "results folder to write (required)")
    _add_store_options(merge)

    fetch = commands.add_parser("fetch", help="download and verify weights and datasets ahead of a run")
    fetch.add_argument("--methods", type=_names, default=(), help="comma-separated: their weights files")
    fetch.add_argument(
        "--datasets", type=_names, default=(), help="comma-separated: their files (or where to download them by hand)"
    )
    fetch.add_argument("--from", dest="source", type=Path, help="install one dataset from a folder or archive you have")
    _add_store_options(fetch)

    commands.add_parser(
        "train",
        add_help=False,
        help="train MSDR-Net: python -m bench train --method msdr|msdr-s|msdr-m [python -m msdr.train options]",
    )

    ls = commands.add_parser("ls", help="list what exists")
    ls.add_argument(
        "what",
        choices=("methods", "datasets", "metrics"),
        help="methods (by family, with weights and published numbers), datasets (with where their files are) "
        "or metrics (with every protocol)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["train"]:
        return _train(argv[1:])
    args = build_parser().parse_args(argv)
    try:
        commands = {
            "run": _run,
            "score": _score,
            "audit": _audit,
            "conformance": _conformance,
            "report": _report,
            "reproduce": _reproduce,
            "compare": _compare,
            "merge": _merge,
            "fetch": _fetch,
            "ls": _ls,
        }
        return commands[args.command](args)
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INPUT_ERROR
    except KeyboardInterrupt:
        print("interrupted: no results were written", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # the reader went away (`ls methods | head`): stop quietly, as `ls` does
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # Python's flush at exit must not fail again
        return EXIT_BROKEN_PIPE


def _train(argv: list[str]) -> int:
    """`--method NAME` puts that method's recipe before the other options, which `msdr.train` then parses."""
    from msdr.train import main as train_main
    from msdr.train_config import METHOD_RECIPES

    parser = argparse.ArgumentParser(prog="python -m bench train", add_help=False)
    parser.add_argument("--method", choices=sorted(METHOD_RECIPES), default="msdr")
    known, rest = parser.parse_known_args(argv)
    return train_main([*METHOD_RECIPES[known.method], *rest], prog=f"python -m bench train --method {known.method}")


def _store(args: argparse.Namespace):
    from bench.common.assets import Store

    return Store.from_env(cache=args.cache, mirror=args.mirror)


def _run(args: argparse.Namespace) -> int:
    from bench.metrics import PROTOCOLS
    from bench.run import runner
    from bench.run.distributed import launched_together

    protocols = tuple(PROTOCOLS) if args.protocols == ("all",) else args.protocols
    profile = None
    if args.profile:
        profile = runner.ProfileConfig(
            warmup=args.profile_warmup,
            runs=args.profile_runs,
            amp=args.profile_amp,
            channels_last=args.profile_channels_last,
        )
    config = _run_config(
        args,
        ground_truth=not args.no_ground_truth,
        metrics=args.metrics,
        protocols=protocols,
        skip_unavailable_metrics=args.skip_unavailable_metrics,
        profile=profile,
    )
    if args.out is None and launched_together():
        raise BenchError("under torchrun or srun every rank writes into one results folder: pass --out DIR")
    if args.shard is not None:
        return _run_shard(config, args)
    return _run_and_print(config, args, workers=args.workers)


def _run_shard(config, args: argparse.Namespace) -> int:
    from bench.results import schema
    from bench.run.folder import run_into
    from bench.run.shards import parse_shard

    index, count = parse_shard(args.shard)
    if args.out is None:
        raise BenchError(f"--shard writes a shard folder for `merge`: pass --out DIR, e.g. --out runs/shards/{index}")
    schema.ensure_writable(args.out, args.overwrite)
    run_into(
        config,
        _store(args),
        args.out,
        save_images=args.save_images,
        progress=not args.no_progress,
        log=_log,
        overwrite=args.overwrite,
        workers=args.workers,
        shard=(index, count),
    )
    print(f"shard {index}/{count} finished in {args.out}; join all {count}: python -m bench merge SHARD... --out DIR")
    return 0


def _merge(args: argparse.Namespace) -> int:
    from bench.results import schema
    from bench.run.folder import merge_into

    if args.out is None:
        raise BenchError("merge writes one results folder: pass --out DIR")
    schema.ensure_writable(args.out, args.overwrite)
    document = merge_into(list(args.shards), _store(args), args.out, progress=not args.no_progress, log=_log)
    print(_format_summary(document))
    print(f"results: {args.out}/{schema.RESULTS_FILE}")
    return 0


def _score(args: argparse.Namespace) -> int:
    from bench.metrics import PROTOCOLS

    config = _outputs_config(
        args,
        metrics=args.metrics,
        protocols=tuple(PROTOCOLS) if args.protocols == ("all",) else args.protocols,
        skip_unavailable_metrics=args.skip_unavailable_metrics,
    )
    return _run_and_print(config, args, workers=None)


def _audit(args: argparse.Namespace) -> int:
    from bench import audit
    from bench.metrics import PROTOCOLS
    from bench.results.schema import RESULTS_FILE, load_results
    from bench.run import runner

    claimed = audit.parse_claim(args.claimed)
    if (args.source / RESULTS_FILE).is_file():
        run, pixels = _audited_run(args, load_results(args.source))
    else:
        args.outputs = args.source
        config = _outputs_config(args, metrics=("psnr", "ssim"), protocols=tuple(PROTOCOLS))
        sink = audit.PixelSink()
        document = runner.run(config, _store(args), progress=not args.no_progress, log=_log, on_output=sink)
        run, pixels = document["runs"][0], sink.rows
    report = audit.audit(run, pixels, claimed)
    print(audit.format_audit(report))
    return 0 if audit.reproduced(report) else EXIT_CHECK_FAILED


def _audited_run(args: argparse.Namespace, document: dict) -> tuple[dict, list | str]:
    """The cell of a finished run that --method/--dataset pick, and its pixel variants when it kept its images."""
    from bench import audit
    from bench.run.saved_images import GROUND_TRUTH, image_path

    runs = [
        run
        for run in document["runs"]
        if args.method in (None, run["method"]) and args.dataset in (None, run["dataset"])
    ]
    if len(runs) != 1:
        cells = ", ".join(f"{run['method']} on {run['dataset']}" for run in document["runs"])
        raise BenchError(f"{args.source} holds {cells}: pick one with --method (and --dataset)")
    run = runs[0]
    if not all("output_png_sha256" in row for row in run["rows"]):
        return run, "not computed: the run kept no images (run it with --save-images)"
    if not image_path(args.source, run["method"], run["dataset"], "").parent.is_dir():
        return run, "not computed: the run's images/ folder is not beside its results"
    files = [
        (image_path(args.source, run["method"], run["dataset"], row["image"]),
         image_path(args.source, GROUND_TRUTH, run["dataset"], row["image"]))
        for row in run["rows"]
    ]  # fmt: skip
    return run, audit.pixel_rows(audit.read_pairs(files))


def _outputs_config(args: argparse.Namespace, **settings):
    """The RunConfig that scores the folder `args.outputs` as a method (`score`, `conformance --outputs`)."""
    from bench.methods.outputs import DeclaredOutputs
    from bench.run import runner

    if getattr(args, "methods", ()):
        raise BenchError("score a folder of outputs on its own: --methods does not go with --outputs")
    if args.dataset is None and args.clean_dir is None:
        raise BenchError("say which set the outputs belong to: --dataset NAME, or --rainy-dir A --clean-dir B")
    if args.dataset is not None and args.clean_dir is not None:
        raise BenchError("pass either --dataset or --rainy-dir with --clean-dir, not both")
    if args.clean_dir is not None and args.rainy_dir is None:
        raise BenchError(
            "pass --rainy-dir too: the rainy inputs show that the outputs are not the inputs, and the report shows them"
        )
    if not args.outputs.is_dir():
        raise BenchError(f"{args.outputs} is not a folder: pass the folder holding your outputs")
    declared = DeclaredOutputs(
        folder=str(args.outputs.resolve()),
        name=args.name,
        description=getattr(args, "description", ""),
        trained_on=getattr(args, "trained_on", ()),
        params=getattr(args, "params", None),
        gmacs=getattr(args, "gmacs", None),
    )
    return runner.RunConfig(
        methods=(),
        datasets=(args.dataset,) if args.dataset else (),
        rainy_dir=args.rainy_dir,
        clean_dir=args.clean_dir,
        limit=args.limit,
        device=args.device,
        allow_incomplete=args.allow_incomplete,
        outputs=declared,
        **settings,
    )


def _run_and_print(config, args: argparse.Namespace, workers: int | None) -> int:
    """Run `config` into --out (or a fresh results/ folder), then print its summary."""
    from bench.results import schema
    from bench.run.folder import run_into

    out = args.out or Path("results") / f"{_stamp()}-{config.digest()[:8]}"
    schema.ensure_writable(out, args.overwrite)
    document = run_into(
        config,
        _store(args),
        out,
        save_images=args.save_images,
        progress=not args.no_progress,
        log=_log,
        overwrite=args.overwrite,
        workers=workers,
    )
    if document is not None:  # under torchrun, rank 0 writes the results and prints them
        print(_format_summary(document))
        print(f"results: {out}/{schema.RESULTS_FILE}")
    return 0


def _run_config(args: argparse.Namespace, **settings):
    """The RunConfig of the shared selection options plus the command's own `settings`."""
    from bench.run import runner

    config = runner.RunConfig(
        methods=args.methods,
        datasets=args.datasets,
        dataset_dir=args.dataset_dir,
        rainy_dir=args.rainy_dir,
        clean_dir=args.clean_dir,
        limit=args.limit,
        device=args.device,
        threads=args.threads,
        seed=args.seed,
        batch_size=args.batch_size,
        allow_incomplete=args.allow_incomplete,
        weights=tuple(args.weights),
        **settings,
    )
    for asked, resolved in zip(args.methods, config.methods, strict=True):
        if asked != resolved:
            _log(f"{asked}: its default weights, {resolved}")
    return config


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%d-%H%M%S")


def _conformance(args: argparse.Namespace) -> int:
    from bench.conformance.check import REPORT_FILE, check, format_report

    if args.outputs is not None:
        config = _outputs_config(args, metrics=("psnr", "ssim"), protocols=args.protocols)
    elif not args.methods:
        raise BenchError("say what to check: --methods A,B (run them), or --outputs DIR --dataset NAME (your files)")
    else:
        config = _run_config(args, metrics=("psnr", "ssim"), protocols=args.protocols)
    out = args.out or Path("results") / f"{_stamp()}-conformance"
    report = check(
        config,
        _store(args),
        out,
        scripts=args.scripts,
        overwrite=args.overwrite,
        progress=not args.no_progress,
        log=_log,
    )
    print(format_report(report))
    print(f"report: {out}/{REPORT_FILE}")
    return 0 if report["passed"] else EXIT_CHECK_FAILED


def _report(args: argparse.Namespace) -> int:
    from bench.report import write_report

    tolerances = notes = None
    if args.suite:
        from bench import suite

        chosen = suite.load_suite(args.suite)
        tolerances, notes = suite.tolerances(chosen), suite.notes(chosen)
    size = write_report(args.runs, args.out, tolerances=tolerances, notes=notes)
    print(f"report: {args.out} ({size / 1e6:.1f} MB)")
    return 0


def _reproduce(args: argparse.Namespace) -> int:
    from bench import suite as suites
    from bench.results.schema import load_results

    suite = suites.load_suite(args.suite)
    out = args.out or Path("results") / f"{_stamp()}-{suite.name}"
    if args.report_only:
        if args.out is None:
            raise BenchError("--report-only reads an earlier reproduction: pass its --out folder")
        verdict = suites.conclude(suite, out)
    else:
        verdict = suites.reproduce(
            suite, _store(args), out, overwrite=args.overwrite, progress=not args.no_progress, log=_log
        )
    for group in suite.groups:  # each group's leaderboard, as `run` prints it
        print(f"group {group.name} ({out / group.name}):\n{_format_summary(load_results(out / group.name))}\n")
    print(suites.format_verdicts(verdict))
    print(f"report: {out / suites.REPORT_FILE}")
    return 0 if verdict["passed"] else EXIT_CHECK_FAILED


def _compare(args: argparse.Namespace) -> int:
    from bench.results import compare

    tolerances = compare.parse_tolerances(args.tolerance)
    cells = compare.compare_paths(args.base, args.new, tolerances)
    print(compare.format_report(cells, tolerances))
    return compare.exit_code(cells)


def _log(message: str) -> None:
    print(message, file=sys.stderr)


def _format_summary(document: dict) -> str:
    from bench.results.schema import summary_table

    header, rows = summary_table(document)
    cells = [header] + [[f"{v:.4f}" if isinstance(v, float) else str(v) for v in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in cells]
    withheld: dict[str, list[str]] = {}  # one line per reason, naming its runs
    limited: dict[int, list[str]] = {}
    for run in document["runs"]:
        if run["published"]:
            published = ", ".join(f"{k} {v}" for k, v in run["published"].items())
            lines.append(f"published for {run['method']} on {run['dataset']}: {published}")
        if run["published_withheld"]:
            withheld.setdefault(run["published_withheld"], []).append(f"{run['method']} on {run['dataset']}")
        if run["training_overlap"]:
            lines.append(
                f"warning: {run['method']} on {run['dataset']} scores training images: {run['training_overlap']}"
            )
        for column, found in run["non_finite"].items():
            effect = "the mean is over the others" if found["rule"] == "omit" else "so the mean is not finite either"
            images = ", ".join(found["images"][:3]) + (", ..." if found["count"] > 3 else "")
            lines.append(
                f"note: {column} of {run['method']} on {run['dataset']} is not finite on {found['count']} "
                f"image(s) ({images}); {effect}"
            )
        if run["limited_to"]:
            limited.setdefault(run["n"], []).append(f"{run['method']} on {run['dataset']}")
    for reason, runs in withheld.items():
        lines.append(f"published numbers not shown ({', '.join(runs)}): {reason}")
    for n, runs in limited.items():
        lines.append(f"note: scored the first {n} images only (--limit): {', '.join(runs)}")
    for column, reason in document["metrics_skipped"].items():
        lines.append(f"skipped {column}: {reason}")
    timing = document["timing"]
    processes = document.get("processes", {})
    if processes.get("launched_as") == "shards":  # `merge`: the shards ran elsewhere, before
        lines.append(f"joined {processes['world_size']} shard folders in {processes['wall_s']:.1f} s")
        return "\n".join(lines)
    if "wall_s" in processes:  # torchrun: this document is rank 0's merge of the ranks' rows
        lines.append(f"wall {processes['wall_s']:.1f} s on {processes['world_size']} ranks (torchrun)")
        return "\n".join(lines)
    if all(run["method_spec"].get("kind") == "outputs" for run in document["runs"]):  # `score`: no model ran
        lines.append(f"wall {timing['wall_s']:.1f} s: reading and scoring {timing['score_s']:.1f} s (no model ran)")
        return "\n".join(lines)
    profiled = f", profiling {timing['profile_s']:.1f} s" if timing["profile_s"] else ""
    lines.append(
        f"wall {timing['wall_s']:.1f} s: model forward {timing['forward_s']:.1f} s, scoring {timing['score_s']:.1f} s"
        f"{profiled} (harness overhead {100 * timing['overhead_fraction']:.1f}%)"
    )
    return "\n".join(lines)


def _fetch(args: argparse.Namespace) -> int:
    from bench import data
    from bench.methods.registry import build_method

    store = _store(args)
    if args.source is not None:
        if len(args.datasets) != 1 or args.methods:
            raise BenchError("--from installs exactly one dataset: pass --datasets NAME --from PATH")
        print(f"installed {args.datasets[0]} at {data.import_dataset(args.datasets[0], args.source, store)}")
        return 0
    if not args.methods and not args.datasets:
        raise BenchError("nothing to fetch: pass --methods and/or --datasets")
    assets = [m.spec.weights for m in map(build_method, args.methods) if m.spec.weights is not None]
    for name in args.datasets:
        data.load_card(name)  # unknown names fail before anything is downloaded
        assets += data.dataset_assets(name)
    for asset in assets:
        store.fetch(asset)
    print(f"{len(assets)} file(s) verified in {store.cache}")
    for name in args.datasets:
        if not data.dataset_assets(name):
            data.open_dataset(name, store)  # not downloadable by script: says where to get it, or checks it
    return 0


def _ls(args: argparse.Namespace) -> int:
    if args.what == "methods":
        from bench.common.assets import Store
        from bench.methods.listing import format_method_table

        print(format_method_table(Store.from_env()))
    elif args.what == "datasets":
        from bench.common.assets import Store
        from bench.data.listing import format_dataset_table

        print(format_dataset_table(Store.from_env()))
    else:
        from bench.metrics import ALL_METRICS, PROTOCOLS

        print("metrics: " + ", ".join(ALL_METRICS) + " (psnr and ssim under each protocol below)")
        for name, protocol in PROTOCOLS.items():
            print(f"{name:18s} {protocol.summary}")
    return 0
