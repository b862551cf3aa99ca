"""Per-image noise parameters: drawn from camera profiles (ELD recipe) or fixed at an ISO.

:class:`~expodiff.noise.model.NoiseModel` delegates here (its ``sample_ratio``,
``sample_params`` and ``params_for_iso``); this module knows the profiles and the parameter
distribution, the model the noise components.

Drawing (ELD, Wei et al. CVPR 2020; the ExposureDiffusion recipe): the camera uniformly from
the profiles; ``log K`` uniform in a range (:class:`GainSampling`); each scale (sigma_g,
sigma_TL, sigma_r) from the camera's joint model ``log sigma ~ N(slope log K + bias,
sigma^2)``; lambda and the matching colour-bias row from the camera's calibration list.
Every draw happens in a fixed order, whatever the components, so a seeded generator gives the
same K for every preset.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from ..kinds import BiasSource, GainSampling
from .camera import CameraProfile, ProfileError
from .params import NoiseParams

__all__ = ["ProfileTables", "sample_ratios", "sample_noise_params", "noise_params_at_iso"]


@dataclass(frozen=True)
class ProfileTables:
    """Per-profile constants stacked as float64 tensors, one row per profile.

    Attributes:
        read_gaussian, read_tukey, row: ``(P, 3)`` slope, bias, sigma of each joint model.
        gain: ``(P, 2)`` [Kmin, Kmax] in DN/electron.
        count: ``(P,)`` number of calibration entries (lambda, colour-bias row).
        shapes: ``(P, N)`` lambda values, zero-padded to the longest list N.
        bias: ``(P, N, 4)`` colour-bias rows (R, Gr, B, Gb), zero-padded.
    """

    read_gaussian: Tensor
    read_tukey: Tensor
    row: Tensor
    gain: Tensor
    count: Tensor
    shapes: Tensor
    bias: Tensor

    @classmethod
    def from_profiles(cls, profiles: Sequence[CameraProfile]) -> ProfileTables:
        """The tables of ``profiles`` (CPU)."""
        n_max = max(len(p.tukey_shapes) for p in profiles)

        def loglin(attr: str) -> Tensor:
            return torch.tensor(
                [
                    [getattr(p, attr).slope, getattr(p, attr).bias, getattr(p, attr).sigma]
                    for p in profiles
                ],
                dtype=torch.float64,
            )

        shapes = torch.zeros(len(profiles), n_max, dtype=torch.float64)
        bias = torch.zeros(len(profiles), n_max, 4, dtype=torch.float64)
        for i, p in enumerate(profiles):
            shapes[i, : len(p.tukey_shapes)] = torch.tensor(p.tukey_shapes, dtype=torch.float64)
            bias[i, : len(p.colour_bias)] = torch.tensor(p.colour_bias, dtype=torch.float64)
        return cls(
            read_gaussian=loglin("read_gaussian"),
            read_tukey=loglin("read_tukey"),
            row=loglin("row"),
            gain=torch.tensor([[p.gain_min, p.gain_max] for p in profiles], dtype=torch.float64),
            count=torch.tensor([len(p.tukey_shapes) for p in profiles], dtype=torch.float64),
            shapes=shapes,
            bias=bias,
        )

    def to(self, device: torch.device) -> ProfileTables:
        """The same tables on ``device``."""
        return ProfileTables(
            **{name: getattr(self, name).to(device) for name in self.__dataclass_fields__}
        )


def _uniform(n: int, generator: torch.Generator | None, device: torch.device) -> Tensor:
    dev = device if generator is None else generator.device
    return torch.rand(n, generator=generator, device=dev, dtype=torch.float64).to(device)


def _normal(n: int, generator: torch.Generator | None, device: torch.device) -> Tensor:
    dev = device if generator is None else generator.device
    return torch.randn(n, generator=generator, device=dev, dtype=torch.float64).to(device)


def _device(device: torch.device | str | None) -> torch.device:
    return torch.device("cpu") if device is None else torch.device(device)


def sample_ratios(
    batch_size: int,
    ratio_range: tuple[float, float],
    *,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> Tensor:
    """Exposure ratios ``r ~ U(lo, hi)`` of ``ratio_range``, shape ``(B,)`` float32."""
    lo, hi = ratio_range
    u = _uniform(batch_size, generator, _device(device))
    return (lo + (hi - lo) * u).float()


def _black_level_error(
    profiles: Sequence[CameraProfile], k: Tensor, cam: Tensor, fallback: Tensor
) -> Tensor:
    """PMN black-level error at the ISO of each sample's K (profiles with a table)."""
    out = fallback.clone()
    for i, (ki, ci) in enumerate(zip(k.tolist(), cam.tolist(), strict=True)):
        profile = profiles[ci]
        if profile.black_level_error:
            iso = max(profile.iso_at_system_gain(ki), 1.0)
            out[i] = profile.black_level_error_at(iso)
    return out


def sample_noise_params(
    profiles: Sequence[CameraProfile],
    tables: ProfileTables,
    batch_size: int,
    *,
    gain_sampling: GainSampling,
    gain_range: tuple[float, float],
    bias_source: BiasSource,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> NoiseParams:
    """Draw one parameter set per image (see the module docstring).

    Args:
        profiles: the cameras (on the model's DN scale).
        tables: :meth:`ProfileTables.from_profiles` of ``profiles``.
        batch_size: B >= 1.
        gain_sampling: log K uniform in ``gain_range`` or in each camera's [Kmin, Kmax].
        gain_range: (lo, hi) K in DN/electron for ``GainSampling.ELD_RANGE``.
        bias_source: where the colour-bias offsets come from.
        generator: source of every draw (camera, K, sigma_g, sigma_TL, sigma_r, calibration
            index, in that order).
        device: where the tensors go (default CPU).

    Returns:
        :class:`NoiseParams` of batch B.

    Raises:
        ValueError: ``batch_size`` is not an integer >= 1.
    """
    if isinstance(batch_size, bool) or int(batch_size) != batch_size or batch_size < 1:
        raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")
    device = _device(device)
    t = tables.to(device)
    n_prof = len(profiles)
    cam = (_uniform(batch_size, generator, device) * n_prof).long().clamp_(max=n_prof - 1)
    u_gain = _uniform(batch_size, generator, device)
    if gain_sampling is GainSampling.ELD_RANGE:
        lo = torch.full((batch_size,), math.log(gain_range[0]), dtype=torch.float64, device=device)
        hi = torch.full_like(lo, math.log(gain_range[1]))
    else:
        lo, hi = torch.log(t.gain[cam, 0]), torch.log(t.gain[cam, 1])
    log_k = lo + (hi - lo) * u_gain

    def scale(joint_model: Tensor) -> Tensor:
        slope, bias, sigma = joint_model[cam].unbind(-1)
        z = _normal(batch_size, generator, device)
        return torch.exp(slope * log_k + bias + sigma * z)

    read_sigma = scale(t.read_gaussian)
    tukey_scale = scale(t.read_tukey)
    row_sigma = scale(t.row)
    count = t.count[cam]
    idx = (_uniform(batch_size, generator, device) * count).long()
    idx = torch.minimum(idx, count.long() - 1)
    tukey_shape = t.shapes[cam, idx]
    colour_bias = t.bias[cam, idx]
    k = torch.exp(log_k)
    if bias_source is BiasSource.BLACK_LEVEL_ERROR:
        colour_bias = _black_level_error(profiles, k, cam, colour_bias)
    return NoiseParams(
        system_gain=k.float(),
        read_sigma=read_sigma.float(),
        tukey_shape=tukey_shape.float(),
        tukey_scale=tukey_scale.float(),
        row_sigma=row_sigma.float(),
        colour_bias=colour_bias.float(),
        camera_index=cam,
    )


def noise_params_at_iso(
    profiles: Sequence[CameraProfile],
    iso: float | Sequence[float] | Tensor,
    profile: CameraProfile | str | None = None,
    *,
    full_scale_dn: float,
    bias_source: BiasSource,
    device: torch.device | str | None = None,
) -> NoiseParams:
    """Fixed parameters of a camera at given ISO(s), without the random spread.

    K is linear in ISO (``gain_min`` at 100, ``gain_max`` at 6400); each scale is the
    joint model's median ``exp(slope log K + bias)``; lambda and the colour bias are the
    calibration entry belonging to K (:meth:`CameraProfile.calibration_index`), or with
    ``BiasSource.BLACK_LEVEL_ERROR`` the black-level error at that ISO.

    Args:
        profiles: the model's profiles (``camera_index`` refers to them; -1 if ``profile``
            is not among them).
        iso: one ISO or a ``(B,)`` sequence/tensor of them.
        profile: a profile, or the name of one of ``profiles``; None: ``profiles[0]``.
        full_scale_dn: the model's DN span of raw_norm 1 (the profile is rescaled to it).
        bias_source: where the colour-bias offsets come from.
        device: where the tensors go (default CPU).

    Returns:
        :class:`NoiseParams`, one row per ISO.

    Raises:
        ValueError: ISO <= 0, or K <= 0 there.
        ProfileError: a ``profile`` name that is not among ``profiles``.
    """
    if profile is None:
        profile = profiles[0]
    elif isinstance(profile, str):
        named = [p for p in profiles if p.name.lower() == profile.strip().lower()]
        if not named:
            valid = ", ".join(p.name for p in profiles)
            raise ProfileError(f"camera {profile!r} is not one of this model's profiles ({valid})")
        profile = named[0]
    profile = profile.rescaled(full_scale_dn)
    isos = torch.as_tensor(iso, dtype=torch.float64).reshape(-1).tolist()
    rows = []
    for value in isos:
        k = profile.system_gain_at_iso(value)
        i = profile.calibration_index(k)
        bias = list(profile.colour_bias[i])
        if bias_source is BiasSource.BLACK_LEVEL_ERROR and profile.black_level_error:
            bias = [profile.black_level_error_at(value)] * 4
        rows.append(
            (
                k,
                profile.read_gaussian.median(k),
                profile.tukey_shapes[i],
                profile.read_tukey.median(k),
                profile.row.median(k),
                bias,
            )
        )
    device = _device(device)

    def col(j: int) -> Tensor:
        return torch.tensor([r[j] for r in rows], dtype=torch.float32, device=device)

    cam_idx = next((j for j, p in enumerate(profiles) if p == profile), -1)
    return NoiseParams(
        system_gain=col(0),
        read_sigma=col(1),
        tukey_shape=col(2),
        tukey_scale=col(3),
        row_sigma=col(4),
        colour_bias=torch.tensor([r[5] for r in rows], dtype=torch.float32, device=device),
        camera_index=torch.full((len(rows),), cam_idx, dtype=torch.long, device=device),
    )
