"""The typed items every dataset returns, and how a batch of them is stacked.

A :class:`RawSample` is one image (or crop) on the packed raw, canonical plane order R, Gr,
B, Gb (:mod:`expodiff.raw`), in ``raw_norm`` (:mod:`expodiff.sensor`). Synthetic sources
(unprocessed sRGB, clean raw files, SID long frames) leave ``noisy`` None: noise is
synthesised batched in the training loop by :class:`expodiff.noise.NoiseModel`. Real pairs
(SID paired, ELD) carry the short exposure *amplified by the exposure ratio*, its ratio and
the system gain K derived from its ISO.

:func:`collate_samples` is the ``collate_fn`` for ``torch.utils.data.DataLoader``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from ..kinds import Split
from ..noise.pair import NoisyPair
from ..raw import CFAPattern

__all__ = [
    "Split",
    "RawSample",
    "RawBatch",
    "SrgbSample",
    "SrgbBatch",
    "collate_samples",
    "IDENTITY_CCM",
]

# Camera RGB -> linear sRGB when a source carries no colour matrix.
IDENTITY_CCM: tuple[tuple[float, float, float], ...] = (
    (1.0, 0.0, 0.0),
    (0.0, 1.0, 0.0),
    (0.0, 0.0, 1.0),
)


@dataclass(frozen=True)
class RawSample:
    """One dataset item on the packed raw.

    Attributes:
        clean: ``(C, h, w)`` float32 raw_norm reference (long exposure, clean raw file or
            unprocessed image), clipped to [0, 1].
        noisy: ``(C, h, w)`` float32 raw_norm of the short exposure multiplied by
            ``exposure_ratio`` (not clipped: values below 0 and above 1 are kept as the sensor
            gave them), or None when noise is to be synthesised later.
        exposure_ratio: r = reference exposure / short exposure for real pairs, else None.
        system_gain: K in DN per electron (camera profile at the short frame's ISO) for real
            pairs, else None.
        iso: ISO of the short frame (real pairs), of the clean frame (raw sources) or of the
            SID scene whose metadata an unprocessed image borrowed; None when unknown.
        camera: camera (profile) name, e.g. ``"SonyA7S2"``.
        name: a stable identifier of the source image (file name, or ``set/file``).
        white_balance: as-shot gains per plane (R, Gr, B, Gb), green = 1.
        colour_matrix: ``(3, 3)`` camera RGB -> linear sRGB, rows summing to 1.
        cfa: the mosaic layout the packed planes came from (for demosaicking in an ISP).
    """

    clean: torch.Tensor
    noisy: torch.Tensor | None
    exposure_ratio: float | None
    system_gain: float | None
    iso: float | None
    camera: str
    name: str
    white_balance: tuple[float, float, float, float] = (1.0, 1.0, 1.0, 1.0)
    colour_matrix: tuple[tuple[float, float, float], ...] = IDENTITY_CCM
    cfa: CFAPattern = CFAPattern.RGGB

    def __post_init__(self) -> None:
        if self.clean.dim() != 3:
            raise ValueError(f"{self.name}: clean must be (C, h, w), got {tuple(self.clean.shape)}")
        if self.noisy is not None and self.noisy.shape != self.clean.shape:
            raise ValueError(
                f"{self.name}: noisy {tuple(self.noisy.shape)} and clean "
                f"{tuple(self.clean.shape)} differ in shape"
            )
        if len(self.white_balance) != 4:
            raise ValueError(f"{self.name}: white_balance needs 4 gains (R, Gr, B, Gb)")
        ccm = tuple(tuple(float(v) for v in row) for row in self.colour_matrix)
        if len(ccm) != 3 or any(len(row) != 3 for row in ccm):
            raise ValueError(f"{self.name}: colour_matrix must be 3x3")
        object.__setattr__(self, "colour_matrix", ccm)
        object.__setattr__(self, "white_balance", tuple(float(g) for g in self.white_balance))

    @property
    def is_real_pair(self) -> bool:
        return self.noisy is not None


@dataclass(frozen=True)
class RawBatch:
    """A stacked batch of :class:`RawSample` (see :func:`collate_samples`).

    Attributes:
        clean: ``(B, C, h, w)``.
        noisy: ``(B, C, h, w)`` or None (synthetic sources).
        exposure_ratio: ``(B,)`` float32 or None.
        system_gain: ``(B,)`` float32 or None.
        white_balance: ``(B, 4)`` float32.
        colour_matrix: ``(B, 3, 3)`` float32.
        iso, camera, name, cfa: per-sample lists.
    """

    clean: torch.Tensor
    noisy: torch.Tensor | None
    exposure_ratio: torch.Tensor | None
    system_gain: torch.Tensor | None
    white_balance: torch.Tensor
    colour_matrix: torch.Tensor
    iso: list[float | None]
    camera: list[str]
    name: list[str]
    cfa: list[CFAPattern]

    def __len__(self) -> int:
        return self.clean.shape[0]

    def _map(self, fn) -> RawBatch:
        def opt(t: torch.Tensor | None) -> torch.Tensor | None:
            return None if t is None else fn(t)

        return RawBatch(
            fn(self.clean),
            opt(self.noisy),
            opt(self.exposure_ratio),
            opt(self.system_gain),
            fn(self.white_balance),
            fn(self.colour_matrix),
            list(self.iso),
            list(self.camera),
            list(self.name),
            list(self.cfa),
        )

    def to(self, device: torch.device | str, non_blocking: bool = False) -> RawBatch:
        """Move every tensor to ``device``."""
        return self._map(lambda t: t.to(device, non_blocking=non_blocking))

    def pin_memory(self) -> RawBatch:
        """Page-locked copy (called by ``DataLoader(pin_memory=True)``)."""
        return self._map(lambda t: t.pin_memory())

    @property
    def is_real_pair(self) -> bool:
        return self.noisy is not None

    def noisy_pair(self) -> NoisyPair:
        """The real pairs of this batch as a :class:`NoisyPair` (params None).

        Raises:
            ValueError: for a synthetic batch (no noisy frames; synthesise them with
                ``NoiseModel.synthesize(batch.clean)`` instead).
        """
        if self.noisy is None or self.exposure_ratio is None or self.system_gain is None:
            raise ValueError(
                "this batch has no real noisy frames; synthesise them with "
                "NoiseModel.synthesize(batch.clean)"
            )
        return NoisyPair(self.noisy, self.clean, self.system_gain, self.exposure_ratio)


@dataclass(frozen=True)
class SrgbSample:
    """A training crop of a clean sRGB image whose unprocessing is left to the training loop.

    ``UnprocessDataset(defer_unprocess=True)`` (``data.unprocess_on_device``) returns these
    instead of :class:`RawSample`: the DataLoader workers only decode and crop, and the loop
    unprocesses a whole :class:`SrgbBatch` at once on its device. The settings are the ones
    the sample would have been unprocessed with.

    Attributes:
        srgb: ``(3, 2h, 2w)`` crop, uint8 (0-255) or float32 in [0, 1].
        brightness: the unprocessing brightness scale.
        flips: ``(vertical, horizontal, transpose)`` applied to the packed raw afterwards.
        iso, camera, name, white_balance, colour_matrix, cfa: as in :class:`RawSample`.
    """

    srgb: torch.Tensor
    brightness: float
    flips: tuple[bool, bool, bool]
    iso: float | None
    camera: str
    name: str
    white_balance: tuple[float, float, float, float]
    colour_matrix: tuple[tuple[float, float, float], ...]
    cfa: CFAPattern = CFAPattern.RGGB


@dataclass(frozen=True)
class SrgbBatch:
    """A stacked batch of :class:`SrgbSample`; :meth:`unprocess` turns it into a RawBatch."""

    srgb: torch.Tensor  # (B, 3, 2h, 2w) uint8 or float32
    brightness: torch.Tensor  # (B,)
    white_balance: torch.Tensor  # (B, 4)
    colour_matrix: torch.Tensor  # (B, 3, 3)
    flips: list[tuple[bool, bool, bool]]
    iso: list[float | None]
    camera: list[str]
    name: list[str]
    cfa: list[CFAPattern]

    def __len__(self) -> int:
        return self.srgb.shape[0]

    def _map(self, fn) -> SrgbBatch:
        return SrgbBatch(
            fn(self.srgb),
            fn(self.brightness),
            fn(self.white_balance),
            fn(self.colour_matrix),
            list(self.flips),
            list(self.iso),
            list(self.camera),
            list(self.name),
            list(self.cfa),
        )

    def to(self, device: torch.device | str, non_blocking: bool = False) -> SrgbBatch:
        return self._map(lambda t: t.to(device, non_blocking=non_blocking))

    def pin_memory(self) -> SrgbBatch:
        return self._map(lambda t: t.pin_memory())

    def unprocess(self) -> RawBatch:
        """The clean packed raw batch, unprocessed in one pass where the batch is."""
        from .augment import Flips, apply_flips
        from .unprocess import unprocess_batch

        cfas = set(self.cfa)
        if len(cfas) != 1:
            layouts = sorted(c.value for c in cfas)
            raise ValueError(f"cannot unprocess a batch of several CFA layouts {layouts}")
        clean = unprocess_batch(
            self.srgb,  # uint8 or float: unprocess_batch linearises either
            colour_matrix=self.colour_matrix,
            white_balance=self.white_balance,
            brightness=self.brightness,
            cfa=self.cfa[0],
        )
        clean = torch.stack(
            [apply_flips(x, Flips(*f)) for x, f in zip(clean, self.flips, strict=True)]
        )
        return RawBatch(
            clean=clean,
            noisy=None,
            exposure_ratio=None,
            system_gain=None,
            white_balance=self.white_balance.float(),
            colour_matrix=self.colour_matrix.float(),
            iso=list(self.iso),
            camera=list(self.camera),
            name=list(self.name),
            cfa=list(self.cfa),
        )


def _stack_optional_scalar(values: Sequence[float | None], what: str) -> torch.Tensor | None:
    present = [v is not None for v in values]
    if not any(present):
        return None
    if not all(present):
        raise ValueError(f"cannot collate samples where only some have {what}")
    return torch.tensor(values, dtype=torch.float32)


def _collate_srgb(samples: Sequence[SrgbSample]) -> SrgbBatch:
    if not all(isinstance(s, SrgbSample) for s in samples):
        raise ValueError("cannot collate sRGB crops together with raw samples")
    shapes = {tuple(s.srgb.shape) for s in samples}
    if len(shapes) != 1:
        raise ValueError(f"cannot collate sRGB crops of different shapes {sorted(shapes)}")
    images = [s.srgb for s in samples]
    if len({t.dtype for t in images}) > 1:  # 8-bit and 16-bit sources in one batch
        images = [t.float() / 255.0 if t.dtype == torch.uint8 else t.float() for t in images]
    return SrgbBatch(
        srgb=torch.stack(images),
        brightness=torch.tensor([s.brightness for s in samples], dtype=torch.float32),
        white_balance=torch.tensor([s.white_balance for s in samples], dtype=torch.float32),
        colour_matrix=torch.tensor([s.colour_matrix for s in samples], dtype=torch.float32),
        flips=[s.flips for s in samples],
        iso=[s.iso for s in samples],
        camera=[s.camera for s in samples],
        name=[s.name for s in samples],
        cfa=[s.cfa for s in samples],
    )


def collate_samples(samples: Sequence[RawSample | SrgbSample]) -> RawBatch | SrgbBatch:
    """Stack samples of equal shape into a :class:`RawBatch` (DataLoader ``collate_fn``);
    :class:`SrgbSample` crops into an :class:`SrgbBatch`.

    Raises:
        ValueError: empty input, different shapes, or real pairs mixed with synthetic samples.
    """
    if not samples:
        raise ValueError("cannot collate an empty list of samples")
    if isinstance(samples[0], SrgbSample):
        return _collate_srgb(samples)
    shapes = {tuple(s.clean.shape) for s in samples}
    if len(shapes) != 1:
        raise ValueError(
            f"cannot collate samples of different shapes {sorted(shapes)}; "
            "crop them to one size (data.patch_size) or use batch size 1"
        )
    noisy_present = [s.noisy is not None for s in samples]
    if any(noisy_present) and not all(noisy_present):
        raise ValueError("cannot collate real pairs together with synthetic samples")
    return RawBatch(
        clean=torch.stack([s.clean for s in samples]),
        noisy=torch.stack([s.noisy for s in samples]) if all(noisy_present) else None,
        exposure_ratio=_stack_optional_scalar([s.exposure_ratio for s in samples], "a ratio"),
        system_gain=_stack_optional_scalar([s.system_gain for s in samples], "a system gain"),
        white_balance=torch.tensor([s.white_balance for s in samples], dtype=torch.float32),
        colour_matrix=torch.tensor([s.colour_matrix for s in samples], dtype=torch.float32),
        iso=[s.iso for s in samples],
        camera=[s.camera for s in samples],
        name=[s.name for s in samples],
        cfa=[s.cfa for s in samples],
    )
