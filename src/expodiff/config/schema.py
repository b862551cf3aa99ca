"""The experiment configuration's schema: nested frozen dataclasses, one per section, with
every default and the checks of each field (``__post_init__``)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

# Only torch-free modules (enums), so that the CLI parsers load quickly.
from ..cfa import CFAPattern
from ..defaults import (
    DEFAULT_CAMERA,
    ELD_FULL_SCALE_DN,
    GAIN_RANGE,
    MAX_INFERENCE_STEPS,
    TRAIN_RATIO_RANGE,
)
from ..kinds import (
    BiasSource,
    DatasetKind,
    EvalProtocol,
    GainSampling,
    InputTransform,
    LossKind,
    NoiseComponent,
    NoisePreset,
    Prediction,
    Reexposure,
    TrainObjective,
)

__all__ = [
    "NoiseConfig",
    "ModelConfig",
    "DiffusionConfig",
    "DataConfig",
    "TrainConfig",
    "EvalConfig",
    "ExperimentConfig",
]


# --------------------------------------------------------------------------- schema
@dataclass(frozen=True)
class NoiseConfig:
    """How noisy inputs are synthesised from clean targets (see docs/noise.md).

    ``expodiff.build.build_noise_model(cfg)`` turns this into a ``NoiseModel``.
    """

    # Named component set: pg (Poisson + Gaussian, the paper's P+G), eld (Poisson +
    # Tukey-lambda + row + quantisation), eld+bias (eld + colour bias), gaussian.
    preset: NoisePreset = NoisePreset.PG
    # Explicit component set overriding the preset (ablations), e.g. [poisson, tukey, row];
    # valid: poisson, shot_gaussian, gaussian, tukey, row, quantization, colour_bias.
    # Empty: the preset's components.
    components: tuple[NoiseComponent, ...] = ()
    # Calibrated camera profiles to draw from, one chosen uniformly per image: packaged names
    # (`expodiff profiles`) or paths to profile .json files written by `expodiff calibrate`.
    cameras: tuple[str, ...] = (DEFAULT_CAMERA,)
    # Per-image K: log-uniform in gain_range (eld_range) or in each camera's [Kmin, Kmax]
    # (camera_range).
    gain_sampling: GainSampling = GainSampling.ELD_RANGE
    # log K ~ U(log lo, log hi) in DN/electron (ELD / ExposureDiffusion recipe: [0.1, 30]).
    gain_range: tuple[float, float] = GAIN_RANGE
    # Exposure ratio ~ U(lo, hi), lo >= 1. Paper: (100, 300); "continuous": (20, 300).
    ratio_range: tuple[float, float] = TRAIN_RATIO_RANGE
    # DN span that raw_norm = 1 maps to when converting to electrons. ELD's 14-bit recipe
    # uses its "saturation level" 16383 - 800 = 15583 (see docs/noise.md for the source).
    full_scale_dn: float = ELD_FULL_SCALE_DN
    # colour_bias component: the profile's per-channel ELD colour-bias rows (colour_bias) or
    # its per-ISO black-level error table (black_level_error, SonyA7S2 from PMN).
    bias_source: BiasSource = BiasSource.COLOUR_BIAS
    # Clip the short exposure at the white level (raw_norm 1 before amplification).
    clip_white: bool = True
    # Clip the short exposure below at -black_level_dn DN (DN 0 of a file with this black
    # level); null keeps values below black, as ELD and ExposureDiffusion do.
    black_level_dn: float | None = None

    def __post_init__(self) -> None:
        lo, hi = self.gain_range
        if not 0 < lo <= hi:
            raise ValueError(f"gain_range must satisfy 0 < lo <= hi, got {list(self.gain_range)}")
        lo, hi = self.ratio_range
        if not 1 <= lo <= hi:
            raise ValueError(
                f"ratio_range must satisfy 1 <= lo <= hi, got {list(self.ratio_range)}"
            )
        if not self.full_scale_dn > 0:
            raise ValueError(f"full_scale_dn must be > 0, got {self.full_scale_dn}")
        if not self.cameras:
            raise ValueError("cameras must name at least one camera profile")
        if self.black_level_dn is not None and self.black_level_dn < 0:
            raise ValueError(f"black_level_dn must be >= 0 or null, got {self.black_level_dn}")


@dataclass(frozen=True)
class ModelConfig:
    """Backbone and the exposure-denoiser wrapper around it (see :mod:`expodiff.nets`)."""

    # A named preset (`expodiff models` lists them); the size fields below override it.
    preset: str = "unet"
    width: int | None = None  # U-Net first-level width (doubled per level) / NAFNet width
    depth: int | None = None  # U-Net levels (SID: 5); U-Net presets only
    enc_blocks: tuple[int, ...] | None = None  # NAFNet presets only
    middle_blocks: int | None = None  # NAFNet presets only
    dec_blocks: tuple[int, ...] | None = None  # NAFNet presets only
    condition_on_photons: bool = True  # photon-level map state * c / (r * K) as input
    condition_on_input: bool = False  # the original input X_T as input (official concat_origin)
    prediction: Prediction = Prediction.FUSED  # FUSED: adaptive residual layer (Eq. 12)
    # NAFNet channel attention: null pools over the whole input (as published); a number
    # pools over a local window of that many packed pixels (1: per pixel, a fully local net).
    pool_size: int | None = None
    # With pool_size: global attention in the middle blocks only (whole-frame context; tiles
    # run the encoder and decoder seamlessly, the middle on the whole frame: nets.staged).
    global_middle: bool = False
    # anscombe: the backbone sees the state's photon count with unit-variance shot noise.
    input_transform: InputTransform = InputTransform.NONE

    def __post_init__(self) -> None:
        if self.pool_size is not None and self.pool_size < 1:
            raise ValueError(f"pool_size must be >= 1 or null (global), got {self.pool_size}")
        if self.global_middle and self.pool_size is None:
            raise ValueError("global_middle needs a pool_size (without one every block is global)")


@dataclass(frozen=True)
class DiffusionConfig:
    """The exposure process, its sampler and the training objective.

    Step counts are *network evaluations*. The official release trains and tests with
    ``iter_num = 2`` intermediate exposures, i.e. 3 evaluations (the paper's T = 2 re-exposure
    steps); 1 is the feed-forward baseline.
    """

    train_steps: int = 3  # network evaluations per training sample (Algorithm 1)
    inference_steps: int = 3  # S, paper default
    reexposure: Reexposure = Reexposure.RESAMPLE_INPUT
    loss: LossKind = LossKind.L1
    aux_weight: float = 1.0  # L1 on the two ARL branches, weighted by the mask
    step_weights: tuple[float, ...] | None = None  # None: equal weights 1/steps
    # Reproduces the official code's least-squares brightness match to the ground truth
    # inside the loop. For protocol comparisons only; never on by default.
    oracle_illuminance_correction: bool = False
    # Inference: give every prediction the input's low frequencies (Gaussian sigma in packed
    # pixels; expodiff.diffusion.consistency). Ground-truth free. null: off.
    input_consistency_sigma: float | None = None
    # Inference: the consistency above only for inputs with at least this many mean
    # photo-electrons per pixel (where a black-level error is small against the signal, so the
    # input's low frequencies can be trusted). null: every input.
    input_consistency_min_electrons: float | None = None
    # Inference: below this many mean photo-electrons per pixel the consistency corrects only
    # the spatially varying low frequencies, not each channel's offset (a black-level error,
    # large against a weak signal, which the network removes). null: the offset too.
    input_consistency_offset_min_electrons: float | None = None
    # Training: apply the same input consistency inside the unrolled training loop, to every
    # step's prediction before its loss and before the next re-exposure (the ground-truth-free
    # counterpart of the official code's in-loop brightness match). Needs
    # input_consistency_sigma, which the trained model then also uses at inference.
    train_input_consistency: bool = False
    # Inference: S chosen by the input's signal level, when no --steps is given: pairs
    # [min_electrons, steps] with decreasing min_electrons, the last 0; an input whose mean
    # photo-electrons per pixel reach a pair's minimum (the first such pair) gets its steps.
    # Empty: always inference_steps.
    steps_by_signal: tuple[tuple[float, int], ...] = ()
    # Inference: network evaluations per step and trajectory the default may spend on a
    # geometric self-ensemble (expodiff.nets.views), when no --views is given: the views are
    # the largest of 1, 2, 4, 8 with steps x views <= inference_evaluations. null: 1 view.
    inference_evaluations: int | None = None

    def views_for_steps(self, steps: int) -> int:
        """Dihedral views per evaluation at ``steps`` steps (the rule above)."""
        budget = self.inference_evaluations
        if budget is None:
            return 1
        return max([1] + [v for v in (2, 4, 8) if v * int(steps) <= budget])

    def consistency_for_signal(self, electrons_per_pixel: float) -> float | None:
        """The input consistency sigma for an input of ``electrons_per_pixel`` mean
        photo-electrons: ``input_consistency_sigma`` from ``input_consistency_min_electrons``
        on (every input without a minimum), None below or without a sigma."""
        sigma, minimum = self.input_consistency_sigma, self.input_consistency_min_electrons
        if sigma is None or (minimum is not None and electrons_per_pixel < minimum):
            return None
        return float(sigma)

    def consistency_keeps_offset(self, electrons_per_pixel: float) -> bool:
        """Whether the consistency keeps the prediction's per-channel offset (the rule above)."""
        minimum = self.input_consistency_offset_min_electrons
        return minimum is not None and electrons_per_pixel < minimum

    def steps_for_signal(self, electrons_per_pixel: float) -> int:
        """S for an input of ``electrons_per_pixel`` mean photo-electrons (the rule above)."""
        for minimum, steps in self.steps_by_signal:
            if electrons_per_pixel >= minimum:
                return int(steps)
        return int(self.inference_steps)

    def __post_init__(self) -> None:
        rule = self.steps_by_signal
        if rule:
            minima = [float(m) for m, _ in rule]
            if any(not math.isfinite(m) or m < 0 for m in minima) or minima != sorted(
                set(minima), reverse=True
            ):
                raise ValueError(
                    "steps_by_signal minima must be finite, >= 0 and strictly decreasing, "
                    f"got {minima}"
                )
            if minima[-1] != 0:
                raise ValueError(f"steps_by_signal must end with minimum 0, got {minima[-1]:g}")
            if any(int(s) != s or not 1 <= s <= MAX_INFERENCE_STEPS for _, s in rule):
                raise ValueError(
                    f"steps_by_signal steps must be integers 1-{MAX_INFERENCE_STEPS}, got {rule}"
                )
        sigma = self.input_consistency_sigma
        if sigma is not None and not (sigma > 0 and math.isfinite(sigma)):
            raise ValueError(f"input_consistency_sigma must be finite and > 0 or null, got {sigma}")
        if not (offset := self.input_consistency_offset_min_electrons or 0.0) >= 0:
            raise ValueError(f"input_consistency_offset_min_electrons must be >= 0, got {offset}")
        if self.train_input_consistency and sigma is None:
            raise ValueError("train_input_consistency needs input_consistency_sigma (a sigma > 0)")

    @property
    def train_input_consistency_sigma(self) -> float | None:
        """The input_consistency_sigma of the training loop (None: off)."""
        return self.input_consistency_sigma if self.train_input_consistency else None


@dataclass(frozen=True)
class DataConfig:
    """Where training, validation and test samples come from (see docs/data.md).

    ``expodiff.data.factory.build_dataset(cfg, split)`` turns this into a dataset.
    """

    kind: DatasetKind = DatasetKind.UNPROCESS
    # Dataset root. unprocess: folder of the clean sRGB sets (None: EXPODIFF_DATA/clean);
    # clean_raw: folder of the raw-file sets; sid_paired / sid_synthetic: the folder holding
    # Sony/short and Sony/long; eld: the folder holding <Camera>/scene-k. Required unless
    # kind is unprocess.
    root: str | None = None
    # unprocess / clean_raw: sets (sub-folders of root, "." = root itself) of each split.
    # An empty tuple means the split is not available (see factory.has_split).
    train_sets: tuple[str, ...] = ("CBSD68", "McMaster")
    val_sets: tuple[str, ...] = ()
    test_sets: tuple[str, ...] = ("Kodak24",)
    # Camera profile name: K from ISO for real pairs (sid_paired, eld), and the camera name
    # recorded in samples; unprocess borrows the metadata of the SID (Sony A7S2) scenes.
    camera: str = DEFAULT_CAMERA
    cfa: CFAPattern = CFAPattern.RGGB  # unprocess: Bayer layout of the synthetic mosaic
    # sid_*: the split lists. A folder (a name under EXPODIFF_DATA/splits, or a path) holding
    # Sony_<split>_list.txt (official SID) or Sony_<split>.txt (ELD), or one .txt list file
    # used for every split (e.g. eld/SID_Sony_15_paired.txt).
    sid_lists: str = "sid_official"
    eld_cameras: tuple[str, ...] = ()  # eld: camera folders under root; empty: all found
    eld_scenes: tuple[int, ...] = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10)  # eld: scene-k numbers
    eld_ratios: tuple[int, ...] = (100, 200)  # eld: nominal ratios (inputs 4,9,14 / 5,10,15)
    patch_size: int = 128  # side of a random training crop in packed pixels
    batch_size: int = 4
    num_workers: int = 2  # DataLoader worker processes
    cache: str | None = None  # patch cache folder (expodiff cache-patches) used for training
    # Centre crop side (packed pixels) of the val split; None: whole frames.
    val_crop: int | None = 128
    val_ratios: tuple[float, ...] = (100.0, 250.0, 300.0)  # synthetic validation ratios
    # unprocess, train split: illuminant augmentation; the R and B white-balance gains of each
    # sample are scaled by factors log-uniform in [1/wb_jitter, wb_jitter]. 1: off.
    wb_jitter: float = 1.0
    # unprocess: MB of decoded images each data process keeps in memory, so a photograph is
    # decoded once, not once per patch (0: decode every time; samples are identical).
    decode_cache_mb: int = 1024
    # unprocess, training split: the DataLoader workers only decode and crop; the training
    # loop unprocesses each batch in one pass on its device (a GPU's data path stops waiting
    # for the workers' per-sample unprocessing). Same samples up to float rounding.
    unprocess_on_device: bool = False

    def __post_init__(self) -> None:
        if self.decode_cache_mb < 0:
            raise ValueError(f"decode_cache_mb must be >= 0, got {self.decode_cache_mb}")
        for name in ("patch_size", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.num_workers < 0:
            raise ValueError(f"num_workers must be >= 0, got {self.num_workers}")
        if not self.wb_jitter >= 1.0:
            raise ValueError(f"wb_jitter must be >= 1, got {self.wb_jitter}")
        if self.val_crop is not None and self.val_crop < 1:
            raise ValueError(f"val_crop must be >= 1 or null, got {self.val_crop}")
        if not self.cfa.is_bayer:
            raise ValueError(f"cfa must be a Bayer layout, got {self.cfa.value}")
        bad = [r for r in self.eld_ratios if r not in (100, 200)]
        if bad:
            raise ValueError(f"eld_ratios: ELD has ratios 100 and 200 only, got {bad}")


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation and bookkeeping of ``expodiff train`` (see docs/training.md)."""

    iterations: int = 1000  # optimiser steps (each on one batch of data.batch_size per rank)
    lr: float = 1e-4
    # Paper schedule: lr, halved at 50 % of the iterations, 1e-5 from 90 %.
    lr_halve_at: float = 0.5
    lr_final_at: float = 0.9
    lr_final: float = 1e-5
    # SUPERVISED (ExposureDiffusion, or the feed-forward baseline when diffusion.train_steps
    # = inference_steps = 1) or NOISE2NOISE (noisy-noisy pairs from the noise model).
    objective: TrainObjective = TrainObjective.SUPERVISED
    adam_betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 0.0
    grad_clip: float | None = None  # max global gradient norm; None: no clipping
    seed: int = 0
    device: str = "auto"  # auto (cuda if available, else cpu), cpu, cuda, cuda:1, ...
    num_threads: int | None = None  # torch.set_num_threads on CPU; None: torch's default
    output_dir: str = "runs/default"
    log_every: int = 50  # CSV / TensorBoard rows (the progress bar updates every step)
    val_every: int = 500  # periodic validation PSNR; 0: never (a final one still runs)
    val_max_images: int | None = 8  # validation images per ratio; None: the whole val split
    checkpoint_every: int = 500  # 0: only at the end (and on Ctrl-C)
    keep_checkpoints: int = 2  # older step checkpoints are deleted; 'last' is always kept
    tensorboard: bool = True  # needs the optional `tensorboard` package; warns if missing
    progress: bool = True  # tqdm bar when stderr is a terminal (else a line per log row)
    bf16_autocast: bool = False  # reduced-precision forward passes (metrics stay fp32)
    channels_last: bool = False  # memory format of the network and batches (often faster on CPU)
    # Fine-tuning: start from the weights of this model folder (or .safetensors file with its
    # config.yaml beside it) instead of random ones; the network must match model.* exactly.
    # Ignored when resuming (the checkpoint's weights win).
    init_from: str | None = None
    # Moving average of the weights for validation and model/ (decay per step); null: off.
    ema_decay: float | None = None

    def __post_init__(self) -> None:
        positive = ("iterations", "log_every", "keep_checkpoints")
        for name in positive:
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("val_every", "checkpoint_every"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0 (0: off), got {getattr(self, name)}")
        if not (self.lr > 0 and self.lr_final > 0):
            raise ValueError("lr and lr_final must be > 0")
        if not 0.0 <= self.lr_halve_at <= self.lr_final_at <= 1.0:
            raise ValueError("need 0 <= lr_halve_at <= lr_final_at <= 1")
        if self.grad_clip is not None and not self.grad_clip > 0:
            raise ValueError(f"grad_clip must be > 0 or null, got {self.grad_clip}")
        for name in ("val_max_images", "num_threads"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be >= 1 or null, got {value}")


@dataclass(frozen=True)
class EvalConfig:
    """Defaults of ``expodiff evaluate`` (see docs/training.md, "Evaluation protocols")."""

    protocol: EvalProtocol = EvalProtocol.SYNTHETIC
    # Exposure ratios evaluated (synthetic: synthesised at each; sid15-crop/sid-full: the pairs
    # of these ratios; eld: among 100, 200). Empty: the protocol's own ratios (synthetic and
    # SID: 100, 250, 300; eld: 100, 200).
    ratios: tuple[float, ...] = ()
    seed: int = 0  # synthetic protocol: noise seed (per image and ratio)
    root: str | None = None  # dataset root of sid15-crop / sid-full (SID) and eld (ELD)
    # synthetic protocol: clean sets (names under EXPODIFF_DATA/clean, unprocessed with the SID
    # test-scene metadata) or folders of raw files used as clean targets.
    sets: tuple[str, ...] = ("Kodak24",)
    cameras: tuple[str, ...] = ()  # eld protocol: cameras to evaluate; empty: all found
    crop: int | None = None  # centre crop side in packed pixels (sid15-crop: always 512)
    max_images: int | None = None  # evaluate at most this many images per ratio
    # Frames with a side above `tile` packed pixels run in tiles of that side; 0: never tile;
    # null: the network's default (TILE, STAGED_TILE for a staged network).
    tile: int | None = None
    # Overlap of the tiles (packed px); null: min(32, tile / 4), as expodiff enhance uses.
    tile_overlap: int | None = None
    srgb_metrics: bool = False  # also PSNR/SSIM after the ISP (sRGB, GT white balance)
    output_dir: str = "runs/eval"

    def __post_init__(self) -> None:
        if any(not r >= 1 for r in self.ratios):
            raise ValueError(f"ratios must be >= 1, got {list(self.ratios)}")
        for name in ("crop", "max_images"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be >= 1 or null, got {value}")
        if self.tile is not None and self.tile < 0:
            raise ValueError(f"tile must be >= 0 (0: never tile), got {self.tile}")
        if self.tile and self.tile_overlap is not None and not 0 <= self.tile_overlap < self.tile:
            raise ValueError(f"need 0 <= tile_overlap < tile, got {self.tile_overlap}")


@dataclass(frozen=True)
class ExperimentConfig:
    """One experiment: everything ``expodiff train`` / ``evaluate`` needs."""

    name: str = "experiment"
    noise: NoiseConfig = field(default_factory=NoiseConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    diffusion: DiffusionConfig = field(default_factory=DiffusionConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
