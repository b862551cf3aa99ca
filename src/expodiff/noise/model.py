"""Noise models composed from physical components, with per-image parameters.

ExposureDiffusion (Wang et al., ICCV 2023, Eq. 1-3) and ELD (Wei et al., CVPR 2020, Eq. 2-8)::

    short exposure, DN above black:   X = K * Poisson(I) + N_read + N_row + N_q + b
    I = clean_raw_norm * full_scale_dn / (r * K)          (photo-electrons of the short frame)
    amplified noisy input:            noisy = X / full_scale_dn * r

=================  ===========================================================================
name here          paper symbol / meaning
=================  ===========================================================================
``system_gain``    K, DN per electron on the ``full_scale_dn`` scale
``exposure_ratio`` r = reference exposure / short exposure (>= 1)
``full_scale_dn``  DN span of raw_norm 1 (ELD 14-bit recipe: saturation 16383 - 800 = 15583)
``read_sigma``     sigma_g of Gaussian read noise (P+G), DN
``tukey_shape``    lambda of Tukey-lambda read noise (ELD)
``tukey_scale``    sigma_TL, DN
``row_sigma``      sigma_r of row noise, DN
``colour_bias``    b, per-channel black-level error, DN
=================  ===========================================================================

Parameters per image follow ELD's recipe: log K uniform in a range, each scale from its
camera's joint model ``log sigma ~ N(slope log K + bias, sigma^2)``, lambda (and the matching
colour-bias row) drawn from the camera's calibration list, the camera itself drawn uniformly
from the model's profiles. Or fixed from ISO with :meth:`NoiseModel.params_for_iso`. The
parameter drawing lives in :mod:`expodiff.noise.parameter_draws`.

Clipping (what a real sensor does): the short exposure is clipped at the white level
(raw_norm 1 before amplification, so the amplified input never exceeds r) when
``clip_white``; values below black are kept (real raw files hold DN below the black level), or
clipped at ``-black_level_dn`` (DN 0 of the file) when that is given.

This module must not import :mod:`expodiff.config` (config imports its enums).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import torch
from torch import Tensor

from ..defaults import ELD_FULL_SCALE_DN, GAIN_RANGE, TRAIN_RATIO_RANGE
from ..errors import NoiseModelError
from ..kinds import (
    PRESET_COMPONENTS,
    BiasSource,
    GainSampling,
    NoiseComponent,
    NoisePreset,
    parse_enum,
)
from . import components as C
from .camera import CameraProfile
from .pair import NoisyPair
from .parameter_draws import ProfileTables, noise_params_at_iso, sample_noise_params, sample_ratios
from .params import NoiseParams

__all__ = ["NoiseModel", "parse_preset", "parse_components"]

_N = NoiseComponent


# ---------------------------------------------------------------------------- model


def parse_preset(preset: NoisePreset | str) -> NoisePreset:
    """A preset from its name (case-insensitive); the error lists the valid names."""
    return parse_enum(NoisePreset, preset)


def parse_components(components: Iterable[NoiseComponent | str]) -> frozenset[NoiseComponent]:
    """A valid component set (at most one shot and one read model) from names or members.

    Raises:
        NoiseModelError: an unknown name, two shot or two read models.
    """
    if isinstance(components, (str, NoiseComponent)):
        components = [components]
    comps = frozenset(parse_enum(NoiseComponent, c) for c in components)
    if {NoiseComponent.POISSON, NoiseComponent.SHOT_GAUSSIAN} <= comps:
        raise NoiseModelError("choose one shot-noise model: poisson or shot_gaussian")
    if {NoiseComponent.GAUSSIAN, NoiseComponent.TUKEY} <= comps:
        raise NoiseModelError("choose one read-noise model: gaussian or tukey")
    return comps


class NoiseModel:
    """A set of noise components plus the per-image parameter distribution.

    Args:
        components: the enabled :class:`NoiseComponent` set (at most one shot and one read
            model); empty: synthesis only rescales (identity on the amplified image).
        profiles: camera profiles to draw parameters from (uniformly per image).
        gain_sampling: log K uniform in ``gain_range`` or in each camera's [Kmin, Kmax].
        gain_range: (lo, hi) K in DN/electron for ``GainSampling.ELD_RANGE``.
        ratio_range: (lo, hi) of the uniform exposure ratio (>= 1).
        full_scale_dn: DN span of raw_norm 1 (ELD: 15583); profiles on another scale are
            rescaled to it (:meth:`CameraProfile.rescaled`).
        bias_source: where COLOUR_BIAS offsets come from.
        clip_white: clip the short exposure at the white level (raw_norm 1).
        black_level_dn: if given, clip the short exposure below at ``-black_level_dn`` DN
            (DN 0 of a file with that black level); None keeps values below black.
        quantization_step_dn: width of the uniform quantisation noise, DN.
    """

    def __init__(
        self,
        components: Iterable[NoiseComponent | str],
        profiles: Sequence[CameraProfile],
        *,
        gain_sampling: GainSampling | str = GainSampling.ELD_RANGE,
        gain_range: tuple[float, float] = GAIN_RANGE,
        ratio_range: tuple[float, float] = TRAIN_RATIO_RANGE,
        full_scale_dn: float = ELD_FULL_SCALE_DN,
        bias_source: BiasSource | str = BiasSource.COLOUR_BIAS,
        clip_white: bool = True,
        black_level_dn: float | None = None,
        quantization_step_dn: float = 1.0,
    ) -> None:
        comps = parse_components(components)
        if not profiles:
            raise NoiseModelError("a noise model needs at least one camera profile")
        if not (isinstance(full_scale_dn, (int, float)) and full_scale_dn > 0):
            raise NoiseModelError(f"full_scale_dn must be > 0, got {full_scale_dn}")
        lo, hi = (float(v) for v in gain_range)
        if not 0 < lo <= hi or not math.isfinite(hi):
            raise NoiseModelError(f"gain_range must satisfy 0 < lo <= hi, got {gain_range}")
        rlo, rhi = (float(v) for v in ratio_range)
        if not 1 <= rlo <= rhi or not math.isfinite(rhi):
            raise NoiseModelError(f"ratio_range must satisfy 1 <= lo <= hi, got {ratio_range}")
        if black_level_dn is not None and not black_level_dn >= 0:
            raise NoiseModelError(f"black_level_dn must be >= 0 or None, got {black_level_dn}")
        if not quantization_step_dn > 0:
            raise NoiseModelError(f"quantization_step_dn must be > 0, got {quantization_step_dn}")
        try:
            self.gain_sampling = GainSampling(gain_sampling)
            self.bias_source = BiasSource(bias_source)
        except ValueError as exc:
            raise NoiseModelError(str(exc)) from None
        self.components = comps
        self.full_scale_dn = float(full_scale_dn)
        self.profiles: tuple[CameraProfile, ...] = tuple(
            p.rescaled(self.full_scale_dn) for p in profiles
        )
        self.gain_range = (lo, hi)
        self.ratio_range = (rlo, rhi)
        self.clip_white = bool(clip_white)
        self.black_level_dn = None if black_level_dn is None else float(black_level_dn)
        self.quantization_step_dn = float(quantization_step_dn)
        self._tables = ProfileTables.from_profiles(self.profiles)

    @classmethod
    def from_preset(
        cls,
        preset: NoisePreset | str,
        profiles: Sequence[CameraProfile],
        *,
        gain_sampling: GainSampling | str = GainSampling.ELD_RANGE,
        gain_range: tuple[float, float] = GAIN_RANGE,
        ratio_range: tuple[float, float] = TRAIN_RATIO_RANGE,
        full_scale_dn: float = ELD_FULL_SCALE_DN,
        **kwargs,
    ) -> NoiseModel:
        """A model with a named preset's components and the given camera profiles.

        Raises:
            NoiseModelError: unknown preset (the message lists the valid names).
        """
        preset = parse_preset(preset)
        return cls(
            PRESET_COMPONENTS[preset],
            profiles,
            gain_sampling=gain_sampling,
            gain_range=gain_range,
            ratio_range=ratio_range,
            full_scale_dn=full_scale_dn,
            **kwargs,
        )

    def __repr__(self) -> str:
        comps = ",".join(sorted(c.value for c in self.components)) or "none"
        names = ",".join(p.name for p in self.profiles)
        return (
            f"NoiseModel(components={comps}, profiles={names}, "
            f"gain_sampling={self.gain_sampling.value}, gain_range={self.gain_range}, "
            f"ratio_range={self.ratio_range}, full_scale_dn={self.full_scale_dn:g})"
        )

    # ---------------------------------------------------------------- sampling
    def sample_ratio(
        self, batch_size: int, *, generator: torch.Generator | None = None, device=None
    ) -> Tensor:
        """Exposure ratios ``r ~ U(lo, hi)`` of ``ratio_range``, shape ``(B,)`` float32."""
        return sample_ratios(batch_size, self.ratio_range, generator=generator, device=device)

    def sample_params(
        self, batch_size: int, *, generator: torch.Generator | None = None, device=None
    ) -> NoiseParams:
        """Draw one parameter set per image
        (:func:`~expodiff.noise.parameter_draws.sample_noise_params`).

        Every parameter is drawn whatever the components, in a fixed order (camera, K,
        sigma_g, sigma_TL, sigma_r, calibration index), so a seeded generator gives the same
        K for every preset.
        """
        return sample_noise_params(
            self.profiles,
            self._tables,
            batch_size,
            gain_sampling=self.gain_sampling,
            gain_range=self.gain_range,
            bias_source=self.bias_source,
            generator=generator,
            device=device,
        )

    def params_for_iso(
        self,
        iso: float | Sequence[float] | Tensor,
        profile: CameraProfile | str | None = None,
        *,
        device=None,
    ) -> NoiseParams:
        """Fixed parameters of a camera at given ISO(s), without the random spread
        (:func:`~expodiff.noise.parameter_draws.noise_params_at_iso`).

        Args:
            iso: one ISO or a ``(B,)`` sequence/tensor of them.
            profile: a profile, or the name of one of the model's profiles; None: the first.
            device: where the tensors go (default CPU).

        Raises:
            ValueError: ISO <= 0, or K <= 0 there.
        """
        return noise_params_at_iso(
            self.profiles,
            iso,
            profile,
            full_scale_dn=self.full_scale_dn,
            bias_source=self.bias_source,
            device=device,
        )

    # --------------------------------------------------------------- synthesis
    def _ratio_tensor(self, ratio, batch: int, like: Tensor, generator) -> Tensor:
        if ratio is None:
            return self.sample_ratio(batch, generator=generator, device=like.device).to(like.dtype)
        r = C.as_batch(ratio, batch, like=like, name="ratio").to(like.dtype)
        if not bool(torch.all(torch.isfinite(r))) or bool(torch.any(r < 1)):
            raise ValueError(f"exposure ratio must be finite and >= 1, got {r.tolist()}")
        return r

    def synthesize(
        self,
        clean: Tensor,
        *,
        ratio: Tensor | float | None = None,
        params: NoiseParams | None = None,
        generator: torch.Generator | None = None,
    ) -> NoisyPair:
        """Synthesise the noisy short exposure of a clean reference, amplified back by r.

        Args:
            clean: ``(B, C, H, W)`` raw_norm of the reference exposure (packed Bayer in
                canonical order for ROW / COLOUR_BIAS, which need C = 4).
            ratio: exposure ratio(s) r >= 1, a number or ``(B,)``; None: drawn per image.
            params: :class:`NoiseParams` of batch B (or 1, broadcast); None: drawn per image.
            generator: source of all randomness (ratio, params, then noise, in that order).

        Returns:
            :class:`NoisyPair` with ``noisy`` = the short exposure amplified to reference
            brightness (raw_norm, dtype of ``clean``), ``clean``, ``system_gain``,
            ``exposure_ratio`` and ``params``.

        Raises:
            ValueError: bad shapes, ratio < 1, K <= 0.
        """
        C._check_image(clean, "clean")
        b, c = clean.shape[:2]
        x = clean.float()
        r = self._ratio_tensor(ratio, b, x, generator)
        params = self._batch_params(params, b, x.device, generator)
        needs_bayer = self.components & {_N.ROW, _N.COLOUR_BIAS}
        if needs_bayer and c != 4:
            names = ", ".join(sorted(n.value for n in needs_bayer))
            raise ValueError(f"{names} noise needs packed Bayer (B, 4, H, W), got C = {c}")
        r4 = r.reshape(-1, 1, 1, 1)
        noise_dn = _sum_in_place(self._noise_terms_dn(x, r4, params, generator), like=x)
        noisy = self._amplify(noise_dn, x, r4)
        return NoisyPair(
            noisy=noisy.to(clean.dtype),
            clean=clean,
            system_gain=params.system_gain.to(clean.device),
            exposure_ratio=r.float(),
            params=params,
        )

    def _batch_params(
        self,
        params: NoiseParams | None,
        batch: int,
        device: torch.device,
        generator: torch.Generator | None,
    ) -> NoiseParams:
        """``params`` repeated to ``batch`` on ``device``; None: drawn per image."""
        if params is None:
            return self.sample_params(batch, generator=generator, device=device)
        if not isinstance(params, NoiseParams):
            raise TypeError(f"params must be NoiseParams, got {type(params).__name__}")
        return params.repeat(batch).to(device)

    def _noise_terms_dn(
        self, x: Tensor, r4: Tensor, params: NoiseParams, generator: torch.Generator | None
    ) -> list[Tensor]:
        """One noise term per component, in DN, drawn in a fixed order (shot, read, row, quant).

        Args:
            x: ``(B, C, H, W)`` float32 raw_norm of the reference exposure.
            r4: ``(B, 1, 1, 1)`` exposure ratios.
            params: per-image parameters of batch B on ``x``'s device.

        Returns:
            Tensors of ``x``'s shape, or broadcastable to it (row noise, colour bias).
        """
        comps = self.components
        shape = x.shape
        terms = []
        if comps & {_N.POISSON, _N.SHOT_GAUSSIAN}:
            signal_dn = x * (self.full_scale_dn / r4)  # short exposure, DN above black
            shot = C.poisson_shot_noise if _N.POISSON in comps else C.gaussian_shot_noise
            terms.append(shot(signal_dn, params.system_gain, generator=generator))
            del signal_dn
        if _N.GAUSSIAN in comps:
            terms.append(
                C.gaussian_read_noise(shape, params.read_sigma, like=x, generator=generator)
            )
        elif _N.TUKEY in comps:
            terms.append(
                C.tukey_lambda_noise(
                    shape, params.tukey_shape, params.tukey_scale, like=x, generator=generator
                )
            )
        if _N.ROW in comps:
            terms.append(C.row_noise(shape, params.row_sigma, like=x, generator=generator))
        if _N.QUANTIZATION in comps:
            step = self.quantization_step_dn
            terms.append(C.quantization_noise(shape, like=x, step_dn=step, generator=generator))
        if _N.COLOUR_BIAS in comps:
            terms.append(C.colour_bias_noise(params.colour_bias, like=x))
        return terms

    def _amplify(self, noise_dn: Tensor, x: Tensor, r4: Tensor) -> Tensor:
        """The short exposure amplified by r, in raw_norm, clipped like the sensor (in place).

        noisy = (signal + noise) / fsd * r, computed as clean + noise * r / fsd so that a
        model without components is exactly the identity. ``noise_dn`` is overwritten.
        """
        fsd = self.full_scale_dn
        noisy = noise_dn.mul_(r4 / fsd).add_(x)
        if self.clip_white:
            noisy = torch.minimum(noisy, r4, out=noisy)
        if self.black_level_dn is not None:
            noisy = torch.maximum(noisy, -self.black_level_dn / fsd * r4, out=noisy)
        return noisy


def _sum_in_place(terms: list[Tensor], like: Tensor) -> Tensor:
    """Sum of the noise terms, accumulated into the first full-size one (zeros if none).

    Summing in place avoids a temporary per term, which dominates the cost at 12 MP.
    """
    full = [t for t in terms if t.shape == like.shape]
    total = full[0] if full else torch.zeros_like(like)
    for t in terms:
        if t is not total:
            total.add_(t)
    return total
