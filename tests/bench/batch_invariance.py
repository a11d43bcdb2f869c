"""Does batching change any output pixel? For every registered method whose weights are at hand, on CPU.

    python tests/bench/batch_invariance.py [--size 96x128] [--batch 3]

Three crops of the mirrored Rain12 images go through each method one at a time and then as one batch; the
script prints, per method, how many output pixels (uint8, after the method's own quantisation) differ and the
largest float difference before quantisation. It is a measurement (`bench run --batch-size N` records N and
withholds published comparisons when N > 1), not a test: methods are not expected to be batch-invariant.
"""

import argparse
import sys

import numpy as np
import torch

from bench.common.assets import Store
from bench.common.errors import BenchError
from bench.data.images import read_image
from bench.methods.registry import build_method, method_names


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="96x128", help="crop HxW (default 96x128)")
    parser.add_argument("--batch", type=int, default=3, help="images per batch (default 3)")
    args = parser.parse_args()
    height, width = map(int, args.size.split("x"))
    store = Store.from_env()
    if store.mirror is None:
        print("set DERAIN_BENCH_MIRROR to the data mirror (the Rain12 images and the weights come from it)")
        return 2
    folder = store.mirror / "datasets" / "Rain12" / "rain"
    crops = [read_image(path)[:height, :width] for path in sorted(folder.glob("*.png"))[: args.batch]]
    torch.manual_seed(0)
    print(f"{'method':28s} {'pixels differing':>18s} {'max |float diff|':>18s}")
    for name in method_names():
        method = build_method(name)
        try:
            method.prepare(store, torch.device("cpu"))
        except BenchError as exc:
            print(f"{name:28s} {'-':>18s} {'-':>18s}  ({str(exc)[:60]}...)")
            continue
        with torch.inference_mode():
            inputs = [method.to_input(crop) for crop in crops]
            single = [method.forward(x) for x in inputs]
            batched = method.forward(torch.cat(inputs)).split(1)
        differing = sum(
            int(np.count_nonzero(method.to_output(a) != method.to_output(b)))
            for a, b in zip(single, batched, strict=True)
        )
        largest = max(float((a - b).abs().max()) for a, b in zip(single, batched, strict=True))
        total = len(crops) * height * width * 3
        print(f"{name:28s} {differing:>10d} of {total:<7d} {largest:>18.3g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
