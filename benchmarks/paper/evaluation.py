"""Evaluate the benchmark's methods on SID-synth, once each, with results cached on disk.

The inputs are the ``synthetic`` protocol of ``expodiff evaluate`` under
``configs/eval-sid-synth.yaml``: Kodak24 unprocessed with the real SID test-scene metadata,
Sony A7S2 calibrated ELD noise with K from each scene's ISO, fixed seeds
(:func:`~expodiff.eval.protocols.protocol_pairs`), measured by
:func:`~expodiff.eval.protocols.evaluate_pairs` (PSNR/SSIM on the packed raw, as measured and
GT-corrected). On top, every prediction's error on the brightest ``highlight_fraction`` of the
reference values is recorded (:func:`highlight_metrics`, Figure 5).

Results of a method are cached as ``WORKDIR/eval/<method key>.csv`` with a ``.json`` stamp
(evaluation settings, protocol, the model weights' SHA-256, ...): a stamp that no longer
matches means the method is evaluated again; a matching one is reused, so an interrupted
benchmark continues where it stopped.
"""

from __future__ import annotations

import csv
import json
import logging
import math
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import torch

from expodiff.config import ExperimentConfig, config_to_dict, load_config
from expodiff.eval.report import ImageResult
from expodiff.io.modelfiles import file_sha256

from .bench_config import BenchConfig
from .plan import EvalSubset, MethodSpec
from .training import configs_dir, model_dir

__all__ = ["Evaluator", "highlight_metrics", "HIGHLIGHT_KEYS", "STAMP_FORMAT"]

log = logging.getLogger("benchmarks.paper")

STAMP_FORMAT = 1  # bump when what a cached result means changes
HIGHLIGHT_KEYS = ("hl_psnr", "hl_mae", "hl_psnr_gt", "hl_mae_gt")


def highlight_metrics(
    prediction: torch.Tensor, reference: torch.Tensor, fraction: float
) -> dict[str, float]:
    """Errors on the brightest ``fraction`` of the reference's values (all planes together).

    Args:
        prediction: ``(C, H, W)`` estimate (raw_norm).
        reference: ``(C, H, W)`` ground truth.
        fraction: share of the values, e.g. 0.05 for the brightest 5 %.

    Returns:
        ``hl_psnr`` / ``hl_mae``: PSNR (data range 1) and mean absolute error there, both
        images clipped to [0, 1]; ``hl_psnr_gt`` / ``hl_mae_gt``: the same after the oracle
        brightness correction of the whole image.
    """
    from expodiff.eval.metrics import brightness_correct

    ref = reference.detach().to(torch.float64).clamp(0.0, 1.0)
    count = max(1, round(fraction * ref.numel()))
    threshold = torch.topk(ref.flatten(), count).values.min()
    mask = ref >= threshold
    out = {}
    corrected = brightness_correct(prediction.to(torch.float64), reference)
    for suffix, pred in (("", prediction), ("_gt", corrected)):
        err = pred.detach().to(torch.float64).clamp(0.0, 1.0)[mask] - ref[mask]
        mse = float((err * err).mean())
        out[f"hl_psnr{suffix}"] = math.inf if mse == 0 else 10.0 * math.log10(1.0 / mse)
        out[f"hl_mae{suffix}"] = float(err.abs().mean())
    return out


def _bm3d_profile(name: str, threads: int | None) -> Any:
    """A ``bm3d.BM3DProfile`` of the given name with ``num_threads`` set (0: automatic)."""
    from expodiff.errors import ConfigError

    try:
        import bm3d
    except ImportError:
        raise ConfigError(
            "the BM3D baselines need the 'bm3d' package: pip install 'expodiff[research]'"
        ) from None
    profiles = {
        "np": bm3d.BM3DProfile,
        "refilter": bm3d.BM3DProfileRefilter,
        "vn": bm3d.BM3DProfileVN,
        "high": bm3d.BM3DProfileHigh,
        "lc": bm3d.BM3DProfileLC,
    }
    if name not in profiles:
        raise ConfigError(f"eval.bm3d_profile {name!r}: valid: {', '.join(profiles)}")
    profile = profiles[name]()
    profile.num_threads = threads or 0
    return profile


class Evaluator:
    """Evaluates :class:`~benchmarks.paper.plan.MethodSpec` rows, caching results per method.

    Args:
        bench: the benchmark config (its ``eval`` section).
        workdir: the benchmark's work folder (trained models in ``train/``, cache in ``eval/``).
        threads: threads of the BM3D baselines (None: the package's automatic choice).
    """

    def __init__(self, bench: BenchConfig, workdir: Path, *, threads: int | None = None) -> None:
        self.bench = bench
        self.e = bench.eval
        self.workdir = Path(workdir)
        self.cache = self.workdir / "eval"
        self.threads = threads
        self._pairs: dict[EvalSubset, list] = {}
        self._models: dict[str, tuple[Any, ExperimentConfig]] = {}
        self._notes: list[str] = []

    # ------------------------------------------------------------------ inputs
    def protocol_config(self, subset: EvalSubset) -> ExperimentConfig:
        """The experiment config whose ``synthetic`` protocol yields ``subset``'s inputs."""
        e = self.e
        path = Path(e.protocol_config)
        if not path.is_absolute() and not path.is_file():
            path = configs_dir() / path
        cfg = load_config(path)
        limit = {
            EvalSubset.TABLES: e.max_images,
            EvalSubset.BM3D: e.bm3d_images,
            EvalSubset.FIGURE: e.figure_images,
        }[subset]
        if e.max_images is not None:
            limit = min(limit, e.max_images) if limit is not None else e.max_images
        crop = e.bm3d_crop if subset is EvalSubset.BM3D else None
        ev = replace(
            cfg.eval, sets=e.sets, ratios=e.ratios, seed=e.seed, max_images=limit, crop=crop
        )
        return replace(cfg, eval=ev)

    def pairs(self, subset: EvalSubset) -> list:
        """The inputs of ``subset`` (built once, kept in memory)."""
        from expodiff.eval.protocols import protocol_pairs

        if subset not in self._pairs:
            cfg = self.protocol_config(subset)
            pairs, notes = protocol_pairs(cfg, cfg.eval.protocol)
            self._pairs[subset] = list(pairs)
            self._notes = list(notes)
        return self._pairs[subset]

    def protocol_notes(self) -> list[str]:
        """The protocol's description (builds no inputs: the pairs are generated lazily)."""
        from expodiff.eval.protocols import protocol_pairs

        if not self._notes:
            cfg = self.protocol_config(EvalSubset.TABLES)
            _, self._notes = protocol_pairs(cfg, cfg.eval.protocol)
        return list(self._notes)

    # ------------------------------------------------------------------ methods
    def _model(self, run: str) -> tuple[Any, ExperimentConfig]:
        from expodiff.build import load_denoiser

        if run not in self._models:
            denoiser, mcfg = load_denoiser(model_dir(self.workdir, run))
            self._models[run] = (denoiser.for_inference(), mcfg)
        return self._models[run]

    def build_method(self, spec: MethodSpec):
        """The evaluable callable of ``spec`` (named by its cache key)."""
        from expodiff.diffusion.process import ExposureProcess
        from expodiff.eval.methods import BaselineMethod, ModelMethod

        if spec.baseline is not None:
            cfg = self.protocol_config(spec.subset)
            return BaselineMethod(
                spec.baseline,
                full_scale_dn=cfg.noise.full_scale_dn,
                name=spec.key,
                bm3d_profile=_bm3d_profile(self.e.bm3d_profile, self.threads),
            )
        denoiser, mcfg = self._model(spec.run)
        variant = spec.reexposure or mcfg.diffusion.reexposure
        tiles = self.protocol_config(spec.subset).eval
        return ModelMethod(
            spec.key,
            denoiser,
            ExposureProcess(mcfg.noise.full_scale_dn, variant),
            steps=spec.steps or mcfg.diffusion.inference_steps,
            tile=tiles.tile,
            overlap=tiles.tile_overlap,
            oracle_illuminance_correction=spec.oracle_in_loop,
            input_consistency_sigma=spec.consistency_sigma,
        )

    def stamp(self, spec: MethodSpec) -> dict[str, Any] | None:
        """What a cached result of ``spec`` must have been computed with (None: no model yet)."""
        weights = None
        if spec.run is not None:
            path = model_dir(self.workdir, spec.run) / "model.safetensors"
            if not path.is_file():
                return None
            weights = file_sha256(path)
        cfg = self.protocol_config(spec.subset)
        # Options left at None are omitted, so adding one does not invalidate older caches.
        spec_dict = {
            k: getattr(v, "value", v)
            for k, v in asdict(spec).items()
            if k != "label" and not (k == "consistency_sigma" and v is None)
        }
        return {
            "format": STAMP_FORMAT,
            "method": spec_dict,
            "weights_sha256": weights,
            "noise": config_to_dict(cfg.noise),
            "protocol": config_to_dict(cfg.eval),
            "bm3d_profile": self.e.bm3d_profile if spec.baseline is not None else None,
            "highlight_fraction": self.e.highlight_fraction,
        }

    # ------------------------------------------------------------------ cache
    def _paths(self, spec: MethodSpec) -> tuple[Path, Path]:
        return self.cache / f"{spec.key}.csv", self.cache / f"{spec.key}.json"

    def cached(self, spec: MethodSpec) -> list[ImageResult] | None:
        """The cached results of ``spec`` when they match its current stamp, else None."""
        table, stamp_path = self._paths(spec)
        if not (table.is_file() and stamp_path.is_file()):
            return None
        stamp = self.stamp(spec)
        try:
            if stamp is None or json.loads(stamp_path.read_text()) != stamp:
                return None
        except json.JSONDecodeError:
            return None
        with open(table, newline="") as fh:
            rows = list(csv.DictReader(fh))
        out = []
        for r in rows:
            metrics = {
                k: float(v)
                for k, v in r.items()
                if k not in ("image", "ratio", "seconds") and v not in ("", None)
            }
            out.append(
                ImageResult(
                    spec.key, float(r["ratio"]), r["image"], metrics, "", float(r["seconds"])
                )
            )
        return out

    def _store(self, spec: MethodSpec, results: list[ImageResult]) -> None:
        from expodiff.io.atomic import atomic_output

        self.cache.mkdir(parents=True, exist_ok=True)
        table, stamp_path = self._paths(spec)
        keys = sorted({k for r in results for k in r.metrics})
        with atomic_output(table, overwrite=True) as tmp:
            with open(tmp, "w", newline="") as fh:
                w = csv.writer(fh)
                w.writerow(["image", "ratio", "seconds", *keys])
                for r in results:
                    w.writerow(
                        [
                            r.image,
                            r.ratio,
                            f"{r.seconds:.4f}",
                            *[r.metrics.get(k, "") for k in keys],
                        ]
                    )
        with atomic_output(stamp_path, overwrite=True) as tmp:  # the stamp last: marks done
            tmp.write_text(json.dumps(self.stamp(spec), indent=1, sort_keys=True))

    def results(self, spec: MethodSpec, *, compute: bool = True) -> list[ImageResult] | None:
        """``spec``'s per-image results: cached, or computed now (unless ``compute`` is False)."""
        from expodiff.eval.protocols import evaluate_pairs

        found = self.cached(spec)
        if found is not None or not compute:
            return found
        pairs = self.pairs(spec.subset)
        method = self.build_method(spec)
        extra: dict[tuple[str, float], dict[str, float]] = {}
        fraction = self.e.highlight_fraction

        def on_prediction(pair, name: str, prediction: torch.Tensor) -> None:
            extra[(pair.name, pair.nominal_ratio)] = highlight_metrics(
                prediction, pair.clean[0], fraction
            )

        log.info(f"evaluating {spec.key} on {len(pairs)} inputs")
        with torch.inference_mode():
            raw = evaluate_pairs(pairs, [method], seed=self.e.seed, on_prediction=on_prediction)
        results = [
            replace(r, metrics={**r.metrics, **extra.get((r.image, r.ratio), {})}) for r in raw
        ]
        self._store(spec, results)
        return results
