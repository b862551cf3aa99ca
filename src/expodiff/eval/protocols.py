"""Evaluation protocols and the evaluator shared by ``expodiff evaluate`` and training.

A protocol (:class:`~expodiff.kinds.EvalProtocol`) turns into a stream of
:class:`EvalPair` (noisy input, clean reference, ratio, K, read-noise level), and
:func:`evaluate_pairs` runs every method on every pair with the same seeded generator and
measures it (:mod:`expodiff.eval.metrics`). The protocols:

``sid15-crop``
    The ELD / ExposureDiffusion tables: ``splits/eld/SID_Sony_15_paired.txt`` (15 indoor SID
    Sony scenes x {100, 250, 300}), the centre 512x512 crop of the packed image
    (``H // 2 - 256``, ``W // 2 - 256``, the ELD code's rounding). Needs ``--root`` (SID).
``sid-full``
    All 129 SID Sony val+test pairs of ``splits/eld/SID_Sony_paired.txt`` at full frame (the
    PMN / LED protocol); networks run in tiles (``eval.tile``). Needs ``--root``.
``eld``
    The ELD dataset: every camera found (or ``eval.cameras``) x {100, 200}; tables per camera.
    Needs ``--root``.
``synthetic``
    Any clean set (``eval.sets``: names under ``EXPODIFF_DATA/clean`` unprocessed with the SID
    *test*-scene metadata, or folders of raw files) + the config's noise model + ratios + a
    seed. The noise of image ``i`` at ratio ``r`` is drawn from a generator seeded by
    ``(seed, image name, r)``, with the system gain K of the image's ISO (the SID scene's)
    through the camera profile, so every method and every run sees the same inputs.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from ..defaults import SID_CAMERA
from ..errors import ConfigError
from ..kinds import EvalProtocol
from ..noise.camera import ProfileError
from ..noise.params import read_noise_std
from .methods import BaselineMethod, Method, ModelMethod
from .metrics import brightness_correct, psnr
from .metrics import ssim as _ssim
from .pairs import EvalPair, pairs_from_dataset, seed_for
from .report import ImageResult

if TYPE_CHECKING:
    from ..config import ExperimentConfig, NoiseConfig

__all__ = [
    "EvalPair",
    "Method",
    "ModelMethod",
    "BaselineMethod",
    "pairs_from_dataset",
    "protocol_pairs",
    "evaluate_pairs",
    "SID15_LIST",
    "SID_FULL_LIST",
    "SID15_CROP",
    "PROTOCOL_RATIOS",
]

SID15_LIST = "eld/SID_Sony_15_paired.txt"
SID_FULL_LIST = "eld/SID_Sony_paired.txt"
SID15_CROP = 512
PROTOCOL_RATIOS: dict[EvalProtocol, tuple[float, ...]] = {
    EvalProtocol.SID15_CROP: (100.0, 250.0, 300.0),
    EvalProtocol.SID_FULL: (100.0, 250.0, 300.0),
    EvalProtocol.ELD: (100.0, 200.0),
    EvalProtocol.SYNTHETIC: (100.0, 250.0, 300.0),
}


class _ReadNoiseLevels:
    """``levels(camera, iso)``: the read-noise std of a camera at an ISO under the config's
    noise model, in electrons (a real pair's K turns it into its own DN, eval.pairs), for BM3D
    on real pairs; None for a camera without a profile."""

    def __init__(self, noise: NoiseConfig) -> None:
        self.noise = noise
        self.models: dict[str, Any] = {}

    def __call__(self, camera: str, iso: float) -> float | None:
        from ..build import build_noise_model

        if camera not in self.models:
            try:
                self.models[camera] = build_noise_model(replace(self.noise, cameras=(camera,)))
            except ProfileError:  # no profile for this camera: BM3D baselines will say so
                self.models[camera] = None
        model = self.models[camera]
        if model is None:
            return None
        params = model.params_for_iso(iso)
        return read_noise_std(params, 0, model.components) / float(params.system_gain[0])


def _synthetic_pairs(
    cfg: ExperimentConfig, ratios: tuple[float, ...], device: torch.device | str
) -> tuple[Iterator[EvalPair], list[str]]:
    """A clean set (or a folder of raw files) with the config's noise model."""
    from ..build import build_noise_model
    from ..config import DataConfig
    from ..data.factory import build_dataset
    from ..data.types import Split
    from ..kinds import DatasetKind

    e = cfg.eval
    sets = tuple(e.sets)
    if not sets:
        raise ConfigError("eval.sets is empty: name a clean set (e.g. Kodak24) or a folder")
    folders = [Path(s).expanduser() for s in sets]
    if len(folders) == 1 and folders[0].is_dir():
        data = DataConfig(
            kind=DatasetKind.CLEAN_RAW,
            root=str(folders[0]),
            test_sets=(".",),
            camera=cfg.data.camera,
        )
    else:
        data = DataConfig(
            kind=DatasetKind.UNPROCESS,
            root=e.root,
            test_sets=sets,
            camera=cfg.data.camera,
            cfa=cfg.data.cfa,
        )
    ds = build_dataset(data, Split.TEST, seed=e.seed)
    note = (
        f"Protocol synthetic: {', '.join(sets)} ({len(ds)} images), noise "
        f"{cfg.noise.preset.value} ({', '.join(cfg.noise.cameras)}), K from each image's "
        f"ISO, seed {e.seed}" + (f", centre crop {e.crop}" if e.crop else "") + "."
    )
    pairs = pairs_from_dataset(
        ds,
        noise_model=build_noise_model(cfg.noise),
        ratios=ratios,
        seed=e.seed,
        max_images=e.max_images,
        device=device,
        crop=e.crop,
    )
    return pairs, [note]


def _sid_pairs(
    cfg: ExperimentConfig,
    protocol: EvalProtocol,
    ratios: tuple[float, ...],
    device: torch.device | str,
) -> tuple[Iterator[EvalPair], list[str]]:
    """SID Sony pairs of the 15-scene crop protocol or the full val+test lists."""
    from ..config import DataConfig
    from ..data.augment import SampleTransform
    from ..data.factory import build_dataset
    from ..data.types import Split
    from ..kinds import DatasetKind

    e = cfg.eval
    lists = SID15_LIST if protocol is EvalProtocol.SID15_CROP else SID_FULL_LIST
    data = DataConfig(kind=DatasetKind.SID_PAIRED, root=e.root, sid_lists=lists, camera=SID_CAMERA)
    crop = SID15_CROP if protocol is EvalProtocol.SID15_CROP else e.crop
    ds = build_dataset(data, Split.TEST, seed=e.seed, transform=SampleTransform())
    note = f"Protocol {protocol.value}: {lists} ({len(ds)} pairs), " + (
        f"centre {crop}x{crop} crop of the packed image." if crop else "full frames."
    )
    pairs = pairs_from_dataset(
        ds,
        ratios=ratios,
        max_images=e.max_images,
        device=device,
        nominal_ratios=PROTOCOL_RATIOS[protocol],
        crop=crop,
        read_noise_for=_ReadNoiseLevels(cfg.noise),
    )
    return pairs, [note]


def _eld_pairs(
    cfg: ExperimentConfig, ratios: tuple[float, ...], device: torch.device | str
) -> tuple[Iterator[EvalPair], list[str]]:
    """The ELD dataset's pairs, every camera found (or ``eval.cameras``), grouped by camera."""
    from ..config import DataConfig
    from ..data.augment import SampleTransform
    from ..data.factory import build_dataset
    from ..data.types import Split
    from ..kinds import DatasetKind

    e = cfg.eval
    eld_nominal = PROTOCOL_RATIOS[EvalProtocol.ELD]
    unknown = [r for r in ratios if r not in eld_nominal]
    if unknown:
        raise ConfigError(
            f"protocol eld has ratios {', '.join(f'{r:g}' for r in eld_nominal)}; got "
            f"{', '.join(f'{r:g}' for r in unknown)} (eval.ratios / --ratios)"
        )
    eld_ratios = tuple(int(r) for r in ratios)
    data = DataConfig(
        kind=DatasetKind.ELD,
        root=e.root,
        eld_cameras=tuple(e.cameras),
        eld_scenes=cfg.data.eld_scenes,
        eld_ratios=eld_ratios,
    )
    ds = build_dataset(data, Split.TEST, seed=e.seed, transform=SampleTransform())
    note = (
        f"Protocol eld: {len(ds)} pairs, ratios {', '.join(map(str, eld_ratios))}"
        + (f", centre crop {e.crop}" if e.crop else ", full frames")
        + "."
    )
    pairs = pairs_from_dataset(
        ds,
        ratios=tuple(float(r) for r in eld_ratios),
        max_images=e.max_images,
        device=device,
        nominal_ratios=eld_nominal,
        crop=e.crop,
        group_by_camera=True,
        read_noise_for=_ReadNoiseLevels(cfg.noise),
    )
    return pairs, [note]


def protocol_pairs(
    cfg: ExperimentConfig, protocol: EvalProtocol | str, *, device: torch.device | str = "cpu"
) -> tuple[Iterator[EvalPair], list[str]]:
    """The pairs of a protocol under an experiment config, and notes for the report.

    Args:
        cfg: the experiment config (its ``eval`` section; ``noise`` for synthetic noise and
            read-noise levels; ``data.eld_scenes`` and ``data.camera``).
        protocol: an :class:`EvalProtocol` or its name.
        device: where the tensors of the pairs go.

    Returns:
        ``(iterator of EvalPair, notes)``; the iterator loads lazily, one image at a time.

    Raises:
        ConfigError: a real-data protocol without ``eval.root``, or no clean set.
        DataError: a missing dataset root, list or file.
    """
    protocol = EvalProtocol(protocol)
    ratios = tuple(cfg.eval.ratios) or PROTOCOL_RATIOS[protocol]
    if protocol is EvalProtocol.SYNTHETIC:
        return _synthetic_pairs(cfg, ratios, device)
    if cfg.eval.root is None:
        raise ConfigError(f"protocol {protocol.value} needs the dataset root (--root / eval.root)")
    if protocol is EvalProtocol.ELD:
        return _eld_pairs(cfg, ratios, device)
    return _sid_pairs(cfg, protocol, ratios, device)


def _srgb(packed: torch.Tensor, sample: Any) -> torch.Tensor:
    from ..io.isp import develop

    img = develop(packed.float().cpu(), sample.cfa, sample.white_balance, sample.colour_matrix)
    return torch.from_numpy(img).permute(2, 0, 1)


def evaluate_pairs(
    pairs: Iterable[EvalPair],
    methods: Sequence[Method],
    *,
    seed: int = 0,
    ssim_metric: bool = True,
    srgb: bool = False,
    progress: Callable[[int], None] | None = None,
    on_prediction: Callable[[EvalPair, str, torch.Tensor], None] | None = None,
) -> list[ImageResult]:
    """Run every method on every pair and measure it (raw, and with GT brightness correction).

    Each (method, pair) gets a generator seeded by ``(seed, pair name, ratio)``, the same for
    every method, so the stochastic sampler is reproducible and methods are compared on equal
    terms.

    Args:
        pairs: the inputs (:func:`protocol_pairs`, :func:`pairs_from_dataset`).
        methods: callables ``method(pair, generator) -> (1, C, H, W)`` with a ``name``.
        seed: sampler seed.
        ssim_metric: also compute SSIM (the slowest metric).
        srgb: also measure after the ISP (needs each pair's ``sample`` metadata).
        progress: called with the number of pairs done after each pair.
        on_prediction: called as ``on_prediction(pair, method_name, prediction (C, H, W))``
            for custom measurements (e.g. errors in the brightest pixels).

    Returns:
        One :class:`ImageResult` per (pair, method), in that order.
    """
    results: list[ImageResult] = []
    for n, pair in enumerate(pairs, 1):
        ref = pair.clean[0].float()
        ref_srgb = _srgb(ref, pair.sample) if srgb else None
        for method in methods:
            g = torch.Generator(device=pair.noisy.device)
            g.manual_seed(seed_for("eval-method", seed, pair.name, pair.ratio))
            t0 = time.perf_counter()
            pred = method(pair, g)[0].float().to(ref.device)
            seconds = time.perf_counter() - t0
            if on_prediction is not None:
                on_prediction(pair, method.name, pred)
            corrected = brightness_correct(pred.double(), ref)  # float64, like the metrics
            m = {"psnr": psnr(pred, ref), "psnr_gt": psnr(corrected, ref)}
            if ssim_metric:
                m["ssim"] = _ssim(pred, ref)
                m["ssim_gt"] = _ssim(corrected, ref)
            if srgb:
                p_s, c_s = _srgb(pred, pair.sample), _srgb(corrected, pair.sample)
                m["psnr_srgb"] = psnr(p_s, ref_srgb)
                m["psnr_srgb_gt"] = psnr(c_s, ref_srgb)
                if ssim_metric:
                    m["ssim_srgb"] = _ssim(p_s, ref_srgb)
                    m["ssim_srgb_gt"] = _ssim(c_s, ref_srgb)
            results.append(
                ImageResult(method.name, pair.nominal_ratio, pair.name, m, pair.group, seconds)
            )
        if progress is not None:
            progress(n)
    return results
