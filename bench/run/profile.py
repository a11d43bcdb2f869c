"""Complexity of a prepared method: parameters, FLOPs, a latency distribution and peak memory.

    profile = profile_method(method, [(321, 481)])     # sizes are (height, width), most important first
    summary_columns(profile)  # {"params": ..., "gflops@3x256x256": ..., "latency_ms_median": ..., ...}

FLOPs are counted at the 3x256x256 reference size (the size deraining papers report FLOPs at) and at
each given size; latency and peak memory cost real forward passes, so they are measured at `sizes[0]` only.
Every measurement is independent: one that fails is recorded as `None` beside a `*_error` string, never
raised and never allowed to stop the others. Units are in the key names (`gflops`, `latency_ms_*`,
`peak_mem_mb` with MB = 10**6 bytes).

Profiling always needs torch, so this module imports it; nothing here runs at import time.
"""

import copy
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from itertools import chain
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from bench.methods.contract import DerainMethod
from bench.run.provenance import device_name

Size = tuple[int, int]  # (height, width)

REFERENCE_SIZE: Size = (256, 256)
AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}
MB = 10**6

FLOPS_COUNTED = (
    "torch.utils.flop_counter.FlopCounterMode over one forward pass at batch 1: 2 FLOPs per multiply-add of "
    "convolutions and matrix products (mm, addmm, bmm, baddbmm, attention); bias additions, activations, "
    "element-wise arithmetic, pooling, normalisation and resampling count 0. macs = flops / 2. mmcv/ptflops, "
    "thop and fvcore report multiply-adds (some adding biases and activations) and call them 'flops'."
)

_CLEAR_REFS = Path("/proc/self/clear_refs")
_PROC_STATUS = Path("/proc/self/status")
_PEAK_MEMORY_METHODS = {
    "cuda_max_memory_allocated": (
        "torch.cuda.max_memory_allocated after torch.cuda.reset_peak_memory_stats: tensors PyTorch allocated "
        "on the GPU (weights, input, activations), not the CUDA context nor cached free blocks"
    ),
    "vm_hwm": (
        "VmHWM of /proc/self/status after writing 5 to /proc/self/clear_refs: resident memory of the whole "
        "process, so it includes the baseline (interpreter, libraries, weights); see mem_before_mb. Memory the "
        "allocator kept from the warm-up passes is already in mem_before_mb, so the increment understates activations"
    ),
    "ru_maxrss": (
        "resource.getrusage(RUSAGE_SELF).ru_maxrss (clear_refs unavailable): the whole process's peak over its "
        "lifetime, so it includes the baseline and may predate the timed passes"
    ),
}


def profile_method(
    method: DerainMethod,
    sizes: Sequence[Size],
    *,
    warmup: int = 3,
    runs: int = 20,
    amp: str | None = None,
    channels_last: bool = False,
    seed: int = 0,
) -> dict:
    """Profile a prepared method; return a JSON-ready dict (see the module docstring).

    Args:
        method: a method after `prepare(store, device)`; profiled on its own device (cpu or cuda).
        sizes: (height, width) of the inputs to profile, most important first (e.g. each dataset's native
            size). FLOPs are counted at 3x256x256 and at each size; latency and memory at `sizes[0]`.
        warmup: untimed forward passes before the timed ones.
        runs: timed forward passes; the latency distribution has `runs` samples.
        amp: None, "bf16" or "fp16": time under `torch.autocast` with that dtype. Allowed on CPU too (CPU
            autocast is a real torch feature); refused with ValueError where torch would disable it.
        channels_last: time with the network and input in channels-last memory format (the network is put
            back in contiguous format afterwards).
        seed: seeds the random uint8 image that `method.to_input` turns into the timed input.

    Raises:
        ValueError: for an unprepared method, an unsupported device, bad sizes, counts or AMP request.
    """
    sizes = _checked_sizes(sizes)
    _check_request(method, warmup, runs, amp)
    return {
        "method": method.spec.name,
        "device": str(method.device),
        **_measured("params", lambda: _count_params(method.net)),
        "flops_counts": FLOPS_COUNTED,
        "flops": {size_label(size): _flops_at(method, size) for size in dict.fromkeys([REFERENCE_SIZE, *sizes])},
        **_latency_and_memory(method, sizes[0], warmup, runs, amp, channels_last, seed),
    }


def summary_columns(profile: dict) -> dict[str, float | None]:
    """The profile's columns in the results CSV; None where that measurement failed."""
    params = profile["params"] or {}
    reference = profile["flops"].get(size_label(REFERENCE_SIZE)) or {}
    latency = profile["latency"] or {}
    memory = profile["memory"] or {}
    return {
        "params": params.get("params_total"),
        f"gflops@{size_label(REFERENCE_SIZE)}": reference.get("gflops"),
        "latency_ms_median": latency.get("latency_ms_median"),
        "latency_ms_p90": latency.get("latency_ms_p90"),
        "peak_mem_mb": memory.get("peak_mem_mb"),
    }


def size_label(size: Size) -> str:
    """`3xHxW`, the name of an RGB input size in keys and columns."""
    height, width = size
    return f"3x{height}x{width}"


# ---- checks -----------------------------------------------------------------------------------------


def _checked_sizes(sizes: Sequence[Size]) -> list[Size]:
    if not sizes:
        raise ValueError("give at least one (height, width) size; latency and memory are measured at the first")
    for size in sizes:
        if not (isinstance(size, Sequence) and len(size) == 2 and all(isinstance(n, int) and n > 0 for n in size)):
            raise ValueError(f"a size is (height, width) in positive pixels, got {size!r}")
    return [(height, width) for height, width in sizes]


def _check_request(method: DerainMethod, warmup: int, runs: int, amp: str | None) -> None:
    if method.net is None:
        raise ValueError(f"{method.spec.name}: call prepare(store, device) before profiling")
    if method.device.type not in ("cpu", "cuda"):
        raise ValueError(f"profiling times cpu or cuda devices only, not {method.device}")
    if warmup < 0 or runs < 1:
        raise ValueError(f"need warmup >= 0 and runs >= 1, got warmup={warmup}, runs={runs}")
    _check_amp(amp, method.device)


def _check_amp(amp: str | None, device: torch.device) -> None:
    """Refuse an AMP request that torch cannot honour here (it may warn and silently run in float32)."""
    if amp is None:
        return
    if amp not in AMP_DTYPES:
        raise ValueError(f"amp must be None or one of {sorted(AMP_DTYPES)}, got {amp!r}")
    try:
        with torch.autocast(device.type, dtype=AMP_DTYPES[amp]):
            honoured = torch.is_autocast_enabled(device.type)
            honoured = honoured and torch.get_autocast_dtype(device.type) == AMP_DTYPES[amp]
    except RuntimeError as exc:
        raise ValueError(f"amp={amp!r} is not supported on {device}: {exc}") from exc
    if not honoured:
        raise ValueError(f"amp={amp!r} is not supported on {device}: torch disables autocast for that dtype there")


# ---- recording failures -----------------------------------------------------------------------------


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _measured(key: str, measure: Callable[[], dict]) -> dict:
    """`{key: measure(), key_error: None}`, or `{key: None, key_error: "Type: message"}` if it raises."""
    try:
        return {key: measure(), f"{key}_error": None}
    except Exception as exc:  # a failed measurement is a result (house style 15), not a crash
        return {key: None, f"{key}_error": _describe(exc)}


# ---- parameters -------------------------------------------------------------------------------------


def _count_params(net: nn.Module) -> dict:
    """Parameters only (buffers such as BatchNorm running statistics are not parameters)."""
    params = list(net.parameters())
    return {
        "params_total": sum(p.numel() for p in params),
        "params_trainable": sum(p.numel() for p in params if p.requires_grad),
    }


# ---- FLOPs ------------------------------------------------------------------------------------------


def _flops_at(method: DerainMethod, size: Size) -> dict:
    """FLOPs of one `method.forward` at `size`: on the meta device when the network allows, else on its own."""
    shape = {"input_shape": [1, 3, *size]}
    try:
        return shape | _count_flops(method, size)
    except Exception as exc:  # recorded, as in `_measured`
        failed = dict.fromkeys(("flops", "macs", "gflops", "gmacs", "flops_by_op", "counted_on"))
        return shape | failed | {"flops_error": _describe(exc)}


def _count_flops(method: DerainMethod, size: Size) -> dict:
    try:
        counter, counted_on, meta_error = _run_flop_counter(_on_meta(method), size), "meta", None
    except Exception as exc:  # data-dependent code (`.item()`, a numpy round trip) cannot run on meta
        meta_error = _describe(exc)
        counter, counted_on = _run_flop_counter(method, size), str(method.device)
    flops = counter.get_total_flops()
    by_op = counter.get_flop_counts().get("Global", {})  # absent when nothing was counted (nn.Identity)
    return {
        "flops": flops,
        "macs": flops / 2,
        "gflops": flops / 1e9,
        "gmacs": flops / 2e9,
        "flops_by_op": {str(op): count for op, count in by_op.items()},
        "counted_on": counted_on,
        "meta_error": meta_error,
        "flops_error": None,
    }


def _run_flop_counter(method: DerainMethod, size: Size) -> FlopCounterMode:
    x = method.to_input(np.zeros((*size, 3), dtype=np.uint8))
    counter = FlopCounterMode(display=False)
    with torch.inference_mode(), counter:
        method.forward(x)
    return counter


def _on_meta(method: DerainMethod) -> DerainMethod:
    """A shallow copy of `method` whose network is a copy with storage-free meta tensors.

    Deep-copying with every parameter and buffer pre-entered in the memo copies the structure and none of
    the weights, so a large network costs nothing to count.
    """
    net = method.net
    memo = {id(t): _meta_like(t) for t in chain(net.parameters(), net.buffers())}
    on_meta = copy.copy(method)
    on_meta.net = copy.deepcopy(net, memo)
    on_meta.device = torch.device("meta")
    return on_meta


def _meta_like(tensor: torch.Tensor) -> torch.Tensor:
    meta = torch.empty_like(tensor, device="meta")
    return nn.Parameter(meta, tensor.requires_grad) if isinstance(tensor, nn.Parameter) else meta


# ---- latency and peak memory ------------------------------------------------------------------------


def _latency_and_memory(
    method: DerainMethod, size: Size, warmup: int, runs: int, amp: str | None, channels_last: bool, seed: int
) -> dict:
    """Both from the same timed passes; a forward that raises fails both, a memory probe that fails only memory."""
    watch = _PeakMemoryWatch(method.device)
    try:
        x = _timed_input(method, size, seed, channels_last)
        with _memory_format(method.net, channels_last):
            samples = _timed_forwards_ms(method, x, warmup, runs, amp, on_timed_start=watch.start)
    except Exception as exc:
        error = _describe(exc)
        return {"latency": None, "latency_error": error, "memory": None, "memory_error": f"no timed pass: {error}"}
    context = _timing_context(method.device, x, warmup, amp, channels_last, seed)
    return {"latency": _latency_stats(samples) | context, "latency_error": None, **_measured("memory", watch.read)}


def _timed_input(method: DerainMethod, size: Size, seed: int, channels_last: bool) -> torch.Tensor:
    image = np.random.default_rng(seed).integers(0, 256, (*size, 3), dtype=np.uint8)
    x = method.to_input(image)
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x


@contextmanager
def _memory_format(net: nn.Module, channels_last: bool) -> Iterator[None]:
    if not channels_last:
        yield
        return
    net.to(memory_format=torch.channels_last)
    try:
        yield
    finally:
        net.to(memory_format=torch.contiguous_format)


def _timed_forwards_ms(
    method: DerainMethod,
    x: torch.Tensor,
    warmup: int,
    runs: int,
    amp: str | None,
    on_timed_start: Callable[[], None],
) -> list[float]:
    time_ms = _cuda_event_ms if x.device.type == "cuda" else _perf_counter_ms
    autocast = torch.autocast(x.device.type, dtype=AMP_DTYPES[amp]) if amp else nullcontext()
    with torch.inference_mode(), autocast:
        for _ in range(warmup):
            time_ms(method.forward, x)
        on_timed_start()
        return [time_ms(method.forward, x) for _ in range(runs)]


def _perf_counter_ms(forward: Callable[[torch.Tensor], object], x: torch.Tensor) -> float:
    start = time.perf_counter()
    forward(x)
    return (time.perf_counter() - start) * 1e3


def _cuda_event_ms(forward: Callable[[torch.Tensor], object], x: torch.Tensor) -> float:
    stream = torch.cuda.current_stream(x.device)
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    torch.cuda.synchronize(x.device)
    start.record(stream)
    forward(x)
    end.record(stream)
    torch.cuda.synchronize(x.device)
    return start.elapsed_time(end)


def _latency_stats(samples_ms: list[float]) -> dict:
    ms = np.asarray(samples_ms)
    median, p90, p99 = np.percentile(ms, [50, 90, 99])
    return {
        "latency_ms_median": float(median),
        "latency_ms_p90": float(p90),
        "latency_ms_p99": float(p99),
        "latency_ms_mean": float(ms.mean()),
        "latency_ms_std": float(ms.std(ddof=1)) if ms.size > 1 else None,
        "latency_ms_min": float(ms.min()),
        "latency_ms_max": float(ms.max()),
        "n": int(ms.size),
        "latency_ms_samples": [float(s) for s in samples_ms],
        "statistics": "percentiles: numpy.percentile (linear interpolation); std: sample (n - 1), None for n = 1",
    }


def _timing_context(
    device: torch.device, x: torch.Tensor, warmup: int, amp: str | None, channels_last: bool, seed: int
) -> dict:
    return {
        "warmup": warmup,
        "timer": "CUDA events, synchronised" if device.type == "cuda" else "time.perf_counter",
        "timed": "method.forward on a pre-made input under torch.inference_mode (no data loading, no to_output)",
        "input": f"uniform random uint8 image (seed {seed}) through method.to_input",
        "input_shape": list(x.shape),
        "dtype": str(x.dtype).removeprefix("torch."),
        "amp": amp,
        "autocast_dtype": str(AMP_DTYPES[amp]).removeprefix("torch.") if amp else None,
        "channels_last": channels_last,
        "device": str(device),
        "device_name": device_name(device),
        "threads": torch.get_num_threads(),
        "load_average_1min": _load_average(),
        "torch": torch.__version__,
    }


def _load_average() -> float | None:
    """The system's 1-minute load average (this process included): other work on the machine inflates latency."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):  # not on Windows; OSError where the kernel does not tell
        return None


class _PeakMemoryWatch:
    """The high-water mark of memory in use on a device from `start()` on.

    `start` never raises: a failure to reset is kept and raised by `read`, so that it fails the memory
    measurement alone and not the latency timed in the same passes.
    """

    def __init__(self, device: torch.device):
        self.device = device
        self.how: str | None = None
        self.before_bytes: int | None = None
        self.start_error: Exception | None = None

    def start(self) -> None:
        try:
            self.how, self.before_bytes = _reset_peak_memory(self.device)
        except Exception as exc:
            self.start_error = exc

    def read(self) -> dict:
        if self.start_error is not None:
            raise self.start_error
        peak = _peak_memory_bytes(self.device, self.how)
        before = self.before_bytes
        return {
            "peak_mem_mb": peak / MB,
            "mem_before_mb": before / MB if before is not None else None,
            "peak_mem_increment_mb": (peak - before) / MB if before is not None else None,
            "peak_mem_method": self.how,
            "peak_mem_scope": _PEAK_MEMORY_METHODS[self.how],
            "unit": "MB = 10**6 bytes",
        }


def _reset_peak_memory(device: torch.device) -> tuple[str, int | None]:
    """Reset the high-water mark; return how it will be read and the bytes in use now (None if unknown)."""
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        return "cuda_max_memory_allocated", torch.cuda.memory_allocated(device)
    try:
        _CLEAR_REFS.write_text("5")  # Linux >= 4.0: resets VmHWM to the current RSS
    except OSError:
        return "ru_maxrss", _resident_bytes_or_none()
    return "vm_hwm", _proc_status_bytes("VmRSS")


def _peak_memory_bytes(device: torch.device, how: str) -> int:
    if how == "cuda_max_memory_allocated":
        return torch.cuda.max_memory_allocated(device)
    if how == "vm_hwm":
        return _proc_status_bytes("VmHWM")
    import resource  # POSIX only, hence imported where the fallback needs it

    max_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return max_rss if sys.platform == "darwin" else max_rss * 1024  # bytes on macOS, KiB on Linux


def _proc_status_bytes(field: str) -> int:
    for line in _PROC_STATUS.read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) * 1024  # "VmHWM:    123456 kB"
    raise OSError(f"no {field} in {_PROC_STATUS}")


def _resident_bytes_or_none() -> int | None:
    try:
        return _proc_status_bytes("VmRSS")
    except OSError:
        return None
