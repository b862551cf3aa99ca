"""Evaluation protocols and the evaluator shared by ``expodiff evaluate`` and training.

A protocol (:class:`~expodiff.eval.kinds.EvalProtocol`) turns into a stream of
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
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

import torch

from ..errors import ConfigError
from .baselines import abm3d_denoise, bm3d_denoise, scaled_input
from .kinds import Baseline, EvalProtocol
from .metrics import brightness_correct, psnr
from .metrics import ssim as _ssim
from .report import ImageResult

__all__ = [
    "EvalPair",
    "Method",
    "ModelMethod",
    "BaselineMethod",
    "pairs_from_dataset",
    "protocol_pairs",
    "evaluate_pairs",
    "read_noise_std",
    "SID15_LIST",
    "SID_FULL_LIST",
    "SID15_CROP",
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


def _seed_for(*parts: Any) -> int:
    return zlib.crc32(repr(parts).encode()) & 0x7FFFFFFF


@dataclass(frozen=True)
class EvalPair:
    """One evaluation input.

    Attributes:
        name: image identifier.
        noisy: ``(1, C, H, W)`` amplified short exposure (raw_norm at reference brightness).
        clean: ``(1, C, H, W)`` reference.
        ratio: the exposure ratio given to the method.
        nominal_ratio: the table column it is reported under (e.g. 100, 250, 300).
        system_gain: K (DN/e-, ``full_scale_dn`` scale).
        read_std: signal-independent noise std in DN (for the BM3D baselines), or None.
        group: table group ("" or, for eld, the camera).
        sample: the dataset item (white balance, colour matrix, CFA for sRGB metrics).
    """

    name: str
    noisy: torch.Tensor
    clean: torch.Tensor
    ratio: float
    nominal_ratio: float
    system_gain: float
    read_std: float | None = None
    group: str = ""
    sample: Any = None


class Method(Protocol):
    """Anything evaluable: ``method(pair, generator) -> (1, C, H, W)`` prediction."""

    name: str

    def __call__(self, pair: EvalPair, generator: torch.Generator) -> torch.Tensor: ...


@dataclass
class ModelMethod:
    """A trained denoiser run by the ExposureDiffusion sampler with ``steps`` evaluations.

    ``steps = 1`` is a feed-forward network (the baseline, or Noise2Noise). Frames larger than
    ``tile`` (packed pixels) are processed in overlapping tiles.
    """

    name: str
    denoiser: Any
    process: Any
    steps: int = 3
    tile: int | None = None
    overlap: int = 32
    bf16: bool = False
    oracle_illuminance_correction: bool = False

    def __call__(self, pair: EvalPair, generator: torch.Generator) -> torch.Tensor:
        from ..diffusion.sampler import sample
        from ..nets.tiling import TiledDenoiser

        net = self.denoiser
        h, w = pair.noisy.shape[-2:]
        if self.tile is not None and max(h, w) > self.tile:
            net = TiledDenoiser(net, tile=self.tile, overlap=self.overlap)
        device = pair.noisy.device
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=self.bf16):
            pred = sample(
                self.process,
                net,
                pair.noisy,
                exposure_ratio=pair.ratio,
                system_gain=pair.system_gain,
                steps=self.steps,
                generator=generator,
                reference=pair.clean if self.oracle_illuminance_correction else None,
                oracle_illuminance_correction=self.oracle_illuminance_correction,
            )
        return pred.float()


@dataclass
class BaselineMethod:
    """One of :class:`~expodiff.eval.kinds.Baseline` (no network)."""

    kind: Baseline
    full_scale_dn: float = 15583.0
    name: str = ""

    def __post_init__(self) -> None:
        self.kind = Baseline(self.kind)
        self.name = (
            self.name
            or {
                Baseline.SCALED: "scaled input",
                Baseline.BM3D: "BM3D",
                Baseline.ABM3D: "A-BM3D",
            }[self.kind]
        )

    def __call__(self, pair: EvalPair, generator: torch.Generator) -> torch.Tensor:  # noqa: ARG002
        x = pair.noisy[0].detach().float().cpu()
        if self.kind is Baseline.SCALED:
            return scaled_input(x)[None]
        if pair.read_std is None:
            raise ConfigError(
                f"{pair.name}: {self.name} needs the read-noise level (no noise model)"
            )
        fn = bm3d_denoise if self.kind is Baseline.BM3D else abm3d_denoise
        out = fn(
            x,
            exposure_ratio=pair.ratio,
            system_gain=pair.system_gain,
            read_std=pair.read_std,
            full_scale_dn=self.full_scale_dn,
        )
        return out[None]


# --------------------------------------------------------------------------- noise levels
def _tukey_variance(shape: float) -> float:
    """Variance of the standard Tukey-lambda distribution (scale 1); lambda > -1/2."""
    import math

    lam = float(shape)
    if abs(lam) < 1e-6:
        return math.pi**2 / 3.0
    if lam <= -0.5:
        return math.inf
    g = math.lgamma(lam + 1.0) * 2.0 - math.lgamma(2.0 * lam + 2.0)
    return (2.0 / lam**2) * (1.0 / (1.0 + 2.0 * lam) - math.exp(g))


def _param(params: Any, name: str, index: int) -> float | None:
    value = getattr(params, name, None)
    if value is None:
        return None
    t = torch.as_tensor(value).reshape(-1)
    if t.numel() == 0:
        return None
    return float(t[min(index, t.numel() - 1)])


def read_noise_std(params: Any, index: int = 0, components: Iterable[Any] | None = None) -> float:
    """Total signal-independent noise std in DN of sample ``index`` of a NoiseParams.

    Sums the variances of the read-noise parts present: Gaussian ``read_sigma`` (P+G) or the
    Tukey-lambda read noise (``tukey_scale``, ``tukey_shape``; ELD), row noise
    (``row_sigma``), and the 1/12 DN^2 of quantisation when the model has it.
    """
    names = {str(getattr(c, "value", c)).lower() for c in (components or ())}
    known = bool(names)
    var = 0.0
    tukey_scale = _param(params, "tukey_scale", index)
    tukey_shape = _param(params, "tukey_shape", index)
    read_sigma = _param(params, "read_sigma", index)
    if known and "tukey" in names and tukey_scale is not None and tukey_shape is not None:
        var += tukey_scale**2 * _tukey_variance(tukey_shape)
    elif read_sigma is not None and (not known or "gaussian" in names):
        var += read_sigma**2
    row = _param(params, "row_sigma", index)
    if row is not None and (not known or "row" in names):
        var += row**2
    if "quantization" in names:
        var += 1.0 / 12.0
    return var**0.5


# --------------------------------------------------------------------------- pairs
def _nominal(ratio: float, candidates: Sequence[float]) -> float:
    for c in candidates:
        if abs(ratio - c) <= 0.05 * c:
            return float(c)
    return float(round(ratio, 1))


def _centre_crop(t: torch.Tensor, size: int | None) -> torch.Tensor:
    if size is None:
        return t
    from ..data.augment import centre_crop_origin

    h, w = t.shape[-2:]
    y, x = centre_crop_origin(h, w, size)
    return t[..., y : y + size, x : x + size]


def pairs_from_dataset(
    dataset: Any,
    *,
    noise_model: Any = None,
    ratios: Sequence[float] = (),
    seed: int = 0,
    max_images: int | None = None,
    device: torch.device | str = "cpu",
    nominal_ratios: Sequence[float] = (),
    crop: int | None = None,
    group_by_camera: bool = False,
    read_noise_for: Any = None,
) -> Iterator[EvalPair]:
    """Evaluation pairs from a dataset's items (draw 0 of each, in order).

    Real pairs (items with ``noisy``) are kept when their nominal ratio (the nearest of
    ``nominal_ratios`` within 5 %) is in ``ratios`` (all when empty). Synthetic items get
    noise at every ratio of ``ratios`` from ``noise_model``, seeded per (seed, item, ratio).
    ``max_images`` caps the images per ratio. ``read_noise_for(camera, iso)`` gives the read
    noise std of real pairs (for BM3D).
    """
    device = torch.device(device)
    counts: dict[float, int] = {}
    ratios = tuple(float(r) for r in ratios)
    nominal_ratios = tuple(nominal_ratios) or ratios
    for index in range(len(dataset)):
        if (
            max_images is not None
            and ratios
            and all(counts.get(r, 0) >= max_images for r in ratios)
        ):
            break
        s = dataset[index]
        group = s.camera if group_by_camera else ""
        clean = _centre_crop(s.clean, crop)[None].to(device)
        if s.noisy is not None:
            ratio = float(s.exposure_ratio)
            nominal = _nominal(ratio, nominal_ratios)
            if ratios and nominal not in ratios:
                continue
            if max_images is not None and counts.get(nominal, 0) >= max_images:
                continue
            counts[nominal] = counts.get(nominal, 0) + 1
            noisy = _centre_crop(s.noisy, crop)[None].to(device)
            read_std = None
            if read_noise_for is not None and s.iso is not None:
                read_std = read_noise_for(s.camera, float(s.iso))
            yield EvalPair(
                s.name, noisy, clean, ratio, nominal, float(s.system_gain), read_std, group, s
            )
            continue
        if noise_model is None:
            raise ConfigError(f"{s.name}: a synthetic item needs a noise model")
        for ratio in ratios:
            if max_images is not None and counts.get(ratio, 0) >= max_images:
                continue
            counts[ratio] = counts.get(ratio, 0) + 1
            g = torch.Generator(device=device)
            g.manual_seed(_seed_for("eval-noise", seed, s.name, ratio))
            if s.iso is not None and hasattr(noise_model, "params_for_iso"):
                params = noise_model.params_for_iso(float(s.iso))
                params = params.to(device) if hasattr(params, "to") else params
            else:
                params = noise_model.sample_params(1, generator=g, device=device)
            pair = noise_model.synthesize(
                clean,
                ratio=torch.tensor([ratio], device=device),
                params=params,
                generator=g,
            )
            read_std = read_noise_std(params, 0, getattr(noise_model, "components", None))
            yield EvalPair(
                s.name,
                pair.noisy,
                clean,
                ratio,
                ratio,
                float(pair.system_gain.reshape(-1)[0]),
                read_std,
                group,
                s,
            )


def _noise_for_camera(cfg: Any, camera: str):
    from ..noise.factory import build_noise_model

    return build_noise_model(replace(cfg.noise, cameras=(camera,)))


def protocol_pairs(
    cfg: Any, protocol: EvalProtocol | str, *, device: torch.device | str = "cpu"
) -> tuple[Iterator[EvalPair], list[str]]:
    """The pairs of a protocol under an experiment config, and notes for the report."""
    from ..config import DataConfig
    from ..data.augment import SampleTransform
    from ..data.factory import build_dataset
    from ..data.kinds import DatasetKind
    from ..data.types import Split

    protocol = EvalProtocol(protocol)
    e = cfg.eval
    ratios = tuple(e.ratios) or PROTOCOL_RATIOS[protocol]
    notes: list[str] = []
    cache: dict[str, Any] = {}

    def read_noise_for(camera: str, iso: float) -> float | None:
        if camera not in cache:
            try:
                cache[camera] = _noise_for_camera(cfg, camera)
            except Exception:  # no profile for this camera: BM3D baselines will say so
                cache[camera] = None
        model = cache[camera]
        if model is None:
            return None
        params = model.params_for_iso(iso)
        return read_noise_std(params, 0, getattr(model, "components", None))

    if protocol is EvalProtocol.SYNTHETIC:
        from ..noise.factory import build_noise_model

        sets = tuple(e.sets)
        if not sets:
            raise ConfigError("eval.sets is empty: name a clean set (e.g. Kodak24) or a folder")
        folders = [Path(s).expanduser() for s in sets]
        if all(f.is_dir() for f in folders) and len(folders) == 1:
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
        noise = build_noise_model(cfg.noise)
        notes.append(
            f"Protocol synthetic: {', '.join(sets)} ({len(ds)} images), noise "
            f"{cfg.noise.preset.value} ({', '.join(cfg.noise.cameras)}), K from each image's "
            f"ISO, seed {e.seed}" + (f", centre crop {e.crop}" if e.crop else "") + "."
        )
        pairs = pairs_from_dataset(
            ds,
            noise_model=noise,
            ratios=ratios,
            seed=e.seed,
            max_images=e.max_images,
            device=device,
            crop=e.crop,
        )
        return pairs, notes
    if e.root is None:
        raise ConfigError(f"protocol {protocol.value} needs the dataset root (--root / eval.root)")
    if protocol in (EvalProtocol.SID15_CROP, EvalProtocol.SID_FULL):
        lists = SID15_LIST if protocol is EvalProtocol.SID15_CROP else SID_FULL_LIST
        data = DataConfig(
            kind=DatasetKind.SID_PAIRED, root=e.root, sid_lists=lists, camera="SonyA7S2"
        )
        crop = SID15_CROP if protocol is EvalProtocol.SID15_CROP else e.crop
        ds = build_dataset(data, Split.TEST, seed=e.seed, transform=SampleTransform())
        notes.append(
            f"Protocol {protocol.value}: {lists} ({len(ds)} pairs), "
            + (f"centre {crop}x{crop} crop of the packed image." if crop else "full frames.")
        )
        pairs = pairs_from_dataset(
            ds,
            ratios=ratios,
            max_images=e.max_images,
            device=device,
            nominal_ratios=PROTOCOL_RATIOS[protocol],
            crop=crop,
            read_noise_for=read_noise_for,
        )
        return pairs, notes
    # ELD
    eld_ratios = tuple(int(r) for r in ratios if int(r) in (100, 200)) or (100, 200)
    data = DataConfig(
        kind=DatasetKind.ELD,
        root=e.root,
        eld_cameras=tuple(e.cameras),
        eld_scenes=cfg.data.eld_scenes,
        eld_ratios=eld_ratios,
    )
    ds = build_dataset(data, Split.TEST, seed=e.seed, transform=SampleTransform())
    notes.append(
        f"Protocol eld: {len(ds)} pairs, ratios {', '.join(map(str, eld_ratios))}"
        + (f", centre crop {e.crop}" if e.crop else ", full frames")
        + "."
    )
    pairs = pairs_from_dataset(
        ds,
        ratios=tuple(float(r) for r in eld_ratios),
        max_images=e.max_images,
        device=device,
        nominal_ratios=(100.0, 200.0),
        crop=e.crop,
        group_by_camera=True,
        read_noise_for=read_noise_for,
    )
    return pairs, notes


# --------------------------------------------------------------------------- evaluator
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
    progress: Any = None,
) -> list[ImageResult]:
    """Run every method on every pair and measure it (raw, and with GT brightness correction).

    Each (method, pair) gets a generator seeded by ``(seed, pair name, ratio)``, the same for
    every method, so the stochastic sampler is reproducible and methods are compared on equal
    terms. ``progress(done_pairs)`` is called after each pair.
    """
    results: list[ImageResult] = []
    for n, pair in enumerate(pairs, 1):
        ref = pair.clean[0].float()
        ref_srgb = _srgb(ref, pair.sample) if srgb else None
        for method in methods:
            g = torch.Generator(device=pair.noisy.device)
            g.manual_seed(_seed_for("eval-method", seed, pair.name, pair.ratio))
            t0 = time.perf_counter()
            pred = method(pair, g)[0].float().to(ref.device)
            seconds = time.perf_counter() - t0
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
