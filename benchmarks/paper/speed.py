"""Speed and memory of one full frame, each measurement in a fresh process; size and cost.

:func:`measure_speed` starts ``python -m benchmarks.paper.speed ...`` (this module's
:func:`main`) once per backbone and step count, so every peak resident-set size is that of a
process that did nothing else: import, build the model, synthesise one noisy packed frame,
run the sampler once on a tiny input (one-off kernel set-up), then time one
:func:`~expodiff.diffusion.sampler.sample` call on the full frame with tiled network
evaluation (:class:`~expodiff.nets.tiling.TiledDenoiser`, what ``expodiff evaluate`` and
large-frame inference use) and report seconds and ``getrusage`` peak RSS as one JSON line.
Weights are random for the presets (speed does not depend on them); the shipped default model
is loaded from its folder. Results are cached in ``WORKDIR/speed/*.json``.

:func:`model_costs` gives Table 5b: parameters (all, and the ``thop`` convention of the
paper), the paper's counts, and forward GFLOPs per megapixel.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from expodiff.defaults import TILE, TILE_OVERLAP

__all__ = [
    "SpeedResult",
    "measure_speed",
    "model_costs",
    "default_model_dir",
    "GLIBC_TUNABLES",
    "main",
]

# The Makefile's allocator settings: large-convolution CPU time halves with them (docs/method.md).
GLIBC_TUNABLES = "glibc.malloc.mmap_threshold=4294967296:glibc.malloc.trim_threshold=68719476736"
_WARMUP_SIDE = 64  # packed pixels of the warm-up input
_SPEED_RATIO = 100.0  # exposure ratio and gain of the synthetic input (speed does not depend on
_SPEED_GAIN = 1.0  # them beyond the Poisson rates)
_SPEED_LEVEL = 0.1  # mean raw_norm of the synthetic scene


@dataclass(frozen=True)
class SpeedResult:
    """One measurement.

    Attributes:
        model: preset name, or ``default`` for the shipped model.
        steps: sampler steps S.
        height, width: packed frame size (a Bayer mosaic of ``2 height x 2 width``).
        seconds: wall time of one ``sample`` call on the frame.
        peak_rss_mb: peak resident set size of the whole process (MiB).
        rss_before_mb: resident set size before the timed call (MiB): interpreter, torch,
            model, input frame.
        threads: torch threads.
        tile: tile side (packed pixels) or None.
        error: why the measurement failed ("" when it did not).
        load_avg: the machine's 1-minute load average when the timed call started (other
            jobs sharing the CPU slow it down).
        allocator: the :class:`~benchmarks.paper.bench_config.Allocator` value it ran with.
    """

    model: str
    steps: int
    height: int
    width: int
    seconds: float
    peak_rss_mb: float
    rss_before_mb: float
    threads: int
    tile: int | None
    error: str = ""
    load_avg: float = float("nan")
    allocator: str = "default"

    @property
    def megapixels(self) -> float:
        """Size of the raw mosaic in megapixels (4 mosaic pixels per packed pixel)."""
        return 4 * self.height * self.width / 1e6


def default_model_dir() -> Path | None:
    """``src/expodiff/models/default`` when the package ships a model there, else None."""
    folder = Path(__file__).resolve().parents[1] / "models" / "default"
    return folder if (folder / "model.safetensors").is_file() else None


def model_costs(default_model: Path | None = None) -> list[dict]:
    """Table 5b: one dict per preset (``name``, ``architecture``, ``params``, ``params_thop``,
    ``paper_params``, ``gflops_per_mp``: forward FLOPs of one network evaluation per mosaic
    megapixel), plus ``default`` for a shipped model folder when given."""
    from expodiff.build import build_denoiser, resolve_preset
    from expodiff.config import ModelConfig
    from expodiff.nets.flops import count_parameters, macs_per_megapixel
    from expodiff.nets.registry import PRESETS

    configs = [(name, ModelConfig(preset=name)) for name in PRESETS]
    if default_model is not None:
        from expodiff.io.modelfiles import load_model_config

        configs.append(("default", load_model_config(default_model).model))
    rows = []
    for name, mcfg in configs:
        model = build_denoiser(mcfg)
        preset = resolve_preset(mcfg)
        arch = preset.summary()
        rows.append(
            {
                "name": name,
                "architecture": arch if name in PRESETS else f"shipped model: {arch}",
                "params": count_parameters(model),
                "params_thop": count_parameters(model, "paper"),
                "paper_params": preset.paper_params if name in PRESETS else None,
                "gflops_per_mp": 2 * macs_per_megapixel(model) / 1e9,
            }
        )
    return rows


def _rss_mb() -> float:
    """Current resident set size (MiB) from /proc, else the peak so far."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _probe(args: argparse.Namespace) -> SpeedResult:
    """The measurement itself (runs in the child process)."""
    import torch

    from expodiff.build import build_denoiser
    from expodiff.config import ModelConfig
    from expodiff.diffusion.process import ExposureProcess
    from expodiff.inference.trajectories import denoise_frame

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    if args.model_dir:
        from expodiff.build import load_denoiser

        model, mcfg = load_denoiser(args.model_dir)
        full_scale = mcfg.noise.full_scale_dn
    else:
        model = build_denoiser(ModelConfig(preset=args.preset))
        full_scale = ExposureProcess().full_scale_dn
    model = model.for_inference()
    process = ExposureProcess(full_scale)
    g = torch.Generator().manual_seed(0)
    clean = torch.rand(1, 4, args.height, args.width, generator=g) * (2 * _SPEED_LEVEL)
    electrons = clean * full_scale / (_SPEED_RATIO * _SPEED_GAIN)
    noisy = torch.poisson(electrons, generator=g) * (_SPEED_RATIO * _SPEED_GAIN) / full_scale
    del clean, electrons
    kw = dict(exposure_ratio=_SPEED_RATIO, system_gain=_SPEED_GAIN, steps=args.steps)
    denoise_frame(model, process, noisy[..., :_WARMUP_SIDE, :_WARMUP_SIDE], seed=g, tile=0, **kw)
    before = _rss_mb()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    t0 = time.perf_counter()
    out, _ = denoise_frame(
        model, process, noisy, seed=g, tile=args.tile or 0, overlap=args.overlap, **kw
    )
    seconds = time.perf_counter() - t0
    if not bool(torch.isfinite(out).all()):
        raise FloatingPointError("non-finite output")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    return SpeedResult(
        args.name,
        args.steps,
        args.height,
        args.width,
        seconds,
        peak,
        before,
        args.threads,
        args.tile,
        load_avg=load,
    )


def main(argv: list[str] | None = None) -> int:
    """Child-process entry point: print one :class:`SpeedResult` as a JSON line."""
    p = argparse.ArgumentParser(prog="python -m benchmarks.paper.speed")
    p.add_argument("--name", required=True)
    p.add_argument("--preset", default="nafnet1")
    p.add_argument("--model-dir")
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--height", type=int, default=1424)
    p.add_argument("--width", type=int, default=2128)
    p.add_argument("--tile", type=int, default=TILE)
    p.add_argument("--overlap", type=int, default=TILE_OVERLAP)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    if args.tile is not None and args.tile <= 0:
        args.tile = None
    print(json.dumps(asdict(_probe(args))))
    return 0


def _failed(name: str, steps: int, cfg, threads: int, allocator: str, error: str) -> SpeedResult:
    nan = float("nan")
    return SpeedResult(
        name,
        steps,
        cfg.height,
        cfg.width,
        nan,
        nan,
        nan,
        threads,
        cfg.tile,
        error,
        allocator=allocator,
    )


def _cache_path(
    folder: Path, name: str, steps: int, cfg, threads: int, model_dir, allocator: str
) -> Path:
    ident = name
    if model_dir is not None:  # a shipped model may be replaced: key its cache by its weights
        from expodiff.io.modelfiles import MODEL_FILE, file_sha256

        ident = f"{name}-{file_sha256(Path(model_dir) / MODEL_FILE)[:12]}"
    tile = cfg.tile or 0
    size = f"{cfg.height}x{cfg.width}"
    return folder / f"{ident}.S{steps}.{size}.t{tile}.j{threads}.{allocator}.json"


def _child_env(allocator: str, threads: int) -> dict[str, str]:
    """The environment of a measuring child: its allocator settings and threads, and the
    repository root on its path (it imports this module as ``benchmarks.paper.speed``)."""
    env = dict(os.environ)
    if allocator == "tuned":
        env["GLIBC_TUNABLES"] = GLIBC_TUNABLES
    else:
        env.pop("GLIBC_TUNABLES", None)
    env["OMP_NUM_THREADS"] = str(threads)
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join([root, *filter(None, [env.get("PYTHONPATH")])])
    return env


def measure_speed(
    name: str,
    steps: int,
    cfg,
    *,
    threads: int,
    workdir: Path,
    model_dir: Path | None = None,
    allocator: str = "default",
    compute: bool = True,
) -> SpeedResult | None:
    """Measure (or reuse the cached measurement of) one backbone and step count.

    Args:
        name: preset name, or ``default`` with ``model_dir``.
        steps: sampler steps S.
        cfg: the :class:`~benchmarks.paper.bench_config.SpeedConfig`.
        threads: torch threads of the child process.
        workdir: cache folder root (``WORKDIR/speed``).
        model_dir: a model folder to load instead of a random-weight preset.
        allocator: ``"default"`` (no ``GLIBC_TUNABLES`` in the child's environment) or
            ``"tuned"`` (the Makefile's :data:`GLIBC_TUNABLES`).
        compute: measure when nothing is cached (False: return None instead).

    Returns:
        The result; a failed or timed-out measurement has ``error`` set (and is not cached).
    """
    from expodiff.io.atomic import atomic_output

    folder = Path(workdir) / "speed"
    allocator = getattr(allocator, "value", allocator)
    path = _cache_path(folder, name, steps, cfg, threads, model_dir, allocator)
    if path.is_file():
        try:
            return SpeedResult(**json.loads(path.read_text()))
        except (json.JSONDecodeError, TypeError):
            pass
    if not compute:
        return None
    cmd = [
        sys.executable,
        "-m",
        "benchmarks.paper.speed",
        "--name",
        name,
        "--steps",
        str(steps),
        "--height",
        str(cfg.height),
        "--width",
        str(cfg.width),
        "--tile",
        str(cfg.tile or 0),
        "--overlap",
        str(cfg.overlap),
        "--threads",
        str(threads),
    ]
    cmd += ["--model-dir", str(model_dir)] if model_dir is not None else ["--preset", name]
    try:
        proc = subprocess.run(
            cmd,
            capture_output=True,
            text=True,
            timeout=cfg.timeout_s,
            env=_child_env(allocator, threads),
            check=False,
        )
    except subprocess.TimeoutExpired:
        return _failed(name, steps, cfg, threads, allocator, f"timed out after {cfg.timeout_s:g} s")
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return _failed(name, steps, cfg, threads, allocator, f"exit {proc.returncode}: {last}")
    result = replace(SpeedResult(**json.loads(lines[-1])), allocator=allocator)
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_output(path, overwrite=True) as tmp:
        tmp.write_text(json.dumps(asdict(result)))
    return result


if __name__ == "__main__":
    sys.exit(main())
