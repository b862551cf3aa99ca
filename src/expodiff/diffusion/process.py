"""The exposure process: schedules and the re-exposure step (pure tensor math).

ExposureDiffusion (Wang et al., ICCV 2023, §3) runs a reverse process that starts at the noisy
short exposure and simulates ever longer exposures of the same scene (Eq. 8-10). No network,
no files, no global random state: randomness comes from an optional ``torch.Generator``.

Notation (paper symbol -> name here):

==============  ======================  ==================================================
paper           here                    meaning
==============  ======================  ==================================================
X_T             ``noisy``               the input: short exposure amplified by ``r``
X_t             ``state``               a state, raw_norm amplified to reference brightness
X_ref, X_0      ``reference``/``clean``   the long (reference) exposure
r               ``exposure_ratio``      reference exposure / input exposure, ``(B,)``
K               ``system_gain``         DN per electron on the ``full_scale_dn`` scale, ``(B,)``
c_t (λ_t/λ_T)   ``exposure_multiple``   exposure of a state relative to the input
F(X_t)          ``prediction``          the network's estimate of the reference
==============  ======================  ==================================================

Photon bookkeeping: a reference-brightness value ``x`` at multiple ``c`` carries

    electrons(x, c) = x * (c / r) * full_scale_dn / K

photo-electrons. Exposure ratios, gains and multiples are ``(B,)`` tensors (a Python number is
broadcast to the batch), so every sample of a batch has its own ``r`` and ``K``.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..defaults import ELD_FULL_SCALE_DN
from ..kinds import Reexposure

# One definition of "a number or a (B,) tensor -> (B,)", shared with the noise components.
from ..noise.components import as_batch as as_batch_vector

__all__ = [
    "ELD_FULL_SCALE_DN",
    "BatchScalar",
    "Reexposure",
    "ExposureProcess",
    "as_batch_vector",
    "check_batch",
]

# A per-sample scalar: a (B,) tensor, or a number broadcast to the batch.
BatchScalar = Tensor | float


def check_batch(
    noisy: Tensor, exposure_ratio: BatchScalar, system_gain: BatchScalar
) -> tuple[Tensor, Tensor]:
    """Validate a batch and return ``(r, K)`` as ``(B,)`` tensors.

    Raises:
        ValueError: ``noisy`` is not 4-D, a gain is not finite and positive, or a ratio has
            the wrong shape.
    """
    if noisy.dim() != 4:
        raise ValueError(f"noisy must be (B, C, H, W), got {tuple(noisy.shape)}")
    b = noisy.shape[0]
    r = as_batch_vector(exposure_ratio, b, like=noisy, name="exposure_ratio")
    k = as_batch_vector(system_gain, b, like=noisy, name="system_gain")
    if bool(torch.any(k <= 0)) or not bool(torch.all(torch.isfinite(k))):
        raise ValueError(f"system_gain must be finite and > 0, got {k.tolist()}")
    return r, k


def _bcast(v: Tensor) -> Tensor:
    """``(B,)`` -> ``(B, 1, 1, 1)`` for broadcasting against ``(B, C, H, W)``."""
    return v.reshape(-1, 1, 1, 1)


def _draw_poisson(rate: Tensor, generator: torch.Generator | None) -> Tensor:
    """``torch.poisson`` that honours a generator living on another device."""
    if generator is not None and generator.device != rate.device:
        return torch.poisson(rate.to(generator.device), generator=generator).to(rate.device)
    return torch.poisson(rate, generator=generator)


class ExposureProcess:
    """Schedules of exposure multiples and the physically exact re-exposure step.

    Args:
        full_scale_dn: DN span that ``raw_norm = 1`` maps to for photon bookkeeping (ELD's
            14-bit recipe: ``16383 - 800 = 15583``, what the official code hard-codes).
        reexposure: which re-exposure variant :meth:`reexpose` uses.
        clip_input: clip the photon sources (the original input in RESAMPLE_INPUT, the current
            state in ACCUMULATE) to ``[0, 1]`` before adding the increment, as the official
            code does. Negative read-noise values then do not subtract photons.
    """

    def __init__(
        self,
        full_scale_dn: float = ELD_FULL_SCALE_DN,
        reexposure: Reexposure = Reexposure.RESAMPLE_INPUT,
        *,
        clip_input: bool = True,
    ) -> None:
        if not full_scale_dn > 0:
            raise ValueError(f"full_scale_dn must be > 0, got {full_scale_dn}")
        self.full_scale_dn = float(full_scale_dn)
        self.reexposure = Reexposure(reexposure)
        self.clip_input = bool(clip_input)

    def __repr__(self) -> str:
        return (
            f"ExposureProcess(full_scale_dn={self.full_scale_dn:g}, "
            f"reexposure={self.reexposure.value!r}, clip_input={self.clip_input})"
        )

    # ------------------------------------------------------------------ checks
    @staticmethod
    def _check_ratio(exposure_ratio: Tensor) -> Tensor:
        r = torch.as_tensor(exposure_ratio)
        if r.dim() != 1:
            raise ValueError(f"exposure_ratio must have shape (B,), got {tuple(r.shape)}")
        if not r.is_floating_point():
            r = r.float()
        if not bool(torch.all(torch.isfinite(r))) or bool(torch.any(r < 1)):
            raise ValueError(f"exposure_ratio must be finite and >= 1, got {r.tolist()}")
        return r

    @staticmethod
    def _check_steps(steps: int) -> int:
        if isinstance(steps, bool) or int(steps) != steps or steps < 1:
            raise ValueError(f"steps must be an integer >= 1, got {steps!r}")
        return int(steps)

    # --------------------------------------------------------------- schedules
    def inference_schedule(self, exposure_ratio: Tensor, steps: int) -> Tensor:
        """Evenly spaced exposure multiples ``c = linspace(1, r, S + 1)`` per sample.

        The network runs on the states at ``c_0 .. c_{S-1}``; ``c_S = r`` closes the schedule.
        ``S = 1`` is the feed-forward baseline (one network evaluation on the input).

        Args:
            exposure_ratio: r per sample, each finite and ``>= 1``.
            steps: S, network evaluations (``>= 1``).

        Returns:
            The schedule, ``c_0 = 1`` and ``c_S = r`` exactly; strictly increasing when
            ``r > 1``.

        Shape:
            exposure_ratio ``(B,)`` -> ``(B, S + 1)``.

        Raises:
            ValueError: a ratio below 1 or not finite, or ``steps < 1``.
        """
        r = self._check_ratio(exposure_ratio)
        steps = self._check_steps(steps)
        t = torch.linspace(0.0, 1.0, steps + 1, dtype=r.dtype, device=r.device)
        sched = 1.0 + (r.unsqueeze(1) - 1.0) * t.unsqueeze(0)
        sched[:, 0] = 1.0
        sched[:, -1] = r  # exact endpoints whatever the rounding
        return sched

    def training_schedule(
        self,
        exposure_ratio: Tensor,
        steps: int,
        *,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """Random exposure multiples for Algorithm 1, ``1 = c_0 < ... < c_S = r``.

        The ``S - 1`` intermediate multiples are distinct random integers in the open interval
        ``(1, r)``, drawn afresh per sample and call (as the official code does). Where that
        interval holds fewer than ``S - 1`` integers (small ``r``), they are distinct uniform
        reals in ``(1, r)`` instead.

        Args:
            exposure_ratio: r per sample, each finite and ``>= 1``.
            steps: S, network evaluations (``>= 1``; 1 gives ``[1, r]``).
            generator: source of the draws (None: the global generator).

        Returns:
            The sorted schedule per sample.

        Shape:
            exposure_ratio ``(B,)`` -> ``(B, S + 1)``.
        """
        r = self._check_ratio(exposure_ratio)
        steps = self._check_steps(steps)
        b = r.shape[0]
        k = steps - 1
        sched = torch.empty(b, steps + 1, dtype=r.dtype, device=r.device)
        sched[:, 0] = 1.0
        sched[:, -1] = r
        if k == 0:
            return sched
        gen_device = generator.device if generator is not None else r.device
        # Integers strictly inside (1, r): 2 .. ceil(r) - 1.
        n_int = (torch.ceil(r) - 2).clamp(min=0).to(torch.int64)
        n_max = int(n_int.max().item())
        inner = torch.empty(b, k, dtype=r.dtype, device=r.device)
        if n_max >= k:
            # A random k-subset per row: the k smallest of iid uniforms over the valid slots.
            keys = torch.rand(b, n_max, generator=generator, device=gen_device).to(r.device)
            slots = torch.arange(n_max, device=r.device).unsqueeze(0)
            keys = keys.masked_fill(slots >= n_int.unsqueeze(1), 2.0)
            picked = torch.topk(keys, k, dim=1, largest=False).indices
            inner = (picked + 2).to(r.dtype)
        # Rows without enough integers: uniform reals in (1, r) (distinct almost surely).
        u = torch.rand(b, k, generator=generator, device=gen_device).to(r.device, r.dtype)
        reals = 1.0 + (r.unsqueeze(1) - 1.0) * u.clamp(1e-6, 1 - 1e-6)
        use_reals = (n_int < k).unsqueeze(1)
        inner = torch.where(use_reals, reals, inner)
        sched[:, 1:-1] = torch.sort(inner, dim=1).values
        return sched

    # -------------------------------------------------------- photon bookkeeping
    def electrons(
        self,
        x: Tensor,
        exposure_multiple: BatchScalar,
        exposure_ratio: BatchScalar,
        system_gain: BatchScalar,
    ) -> Tensor:
        """Photo-electrons of a reference-brightness value exposed at multiple ``c``.

        Args:
            x: raw_norm at reference brightness.
            exposure_multiple: c, ``(B,)`` or a number.
            exposure_ratio: r, ``(B,)`` or a number.
            system_gain: K, ``(B,)`` or a number.

        Returns:
            ``x * (c / r) * full_scale_dn / K``, same shape as ``x`` ``(B, C, H, W)``.
        """
        b = x.shape[0]
        c = _bcast(as_batch_vector(exposure_multiple, b, like=x, name="exposure_multiple"))
        r = _bcast(as_batch_vector(exposure_ratio, b, like=x, name="exposure_ratio"))
        k = _bcast(as_batch_vector(system_gain, b, like=x, name="system_gain"))
        return x * (c / r) * (self.full_scale_dn / k)

    def from_electrons(
        self,
        electrons: Tensor,
        exposure_multiple: BatchScalar,
        exposure_ratio: BatchScalar,
        system_gain: BatchScalar,
    ) -> Tensor:
        """Inverse of :meth:`electrons`: electrons at multiple ``c`` -> reference-brightness
        raw_norm ``electrons * (r / c) * K / full_scale_dn``, shape ``(B, C, H, W)``."""
        b = electrons.shape[0]
        c = _bcast(as_batch_vector(exposure_multiple, b, like=electrons, name="exposure_multiple"))
        r = _bcast(as_batch_vector(exposure_ratio, b, like=electrons, name="exposure_ratio"))
        k = _bcast(as_batch_vector(system_gain, b, like=electrons, name="system_gain"))
        return electrons * (r / c) * (k / self.full_scale_dn)

    def photon_level(
        self,
        state: Tensor,
        exposure_multiple: BatchScalar,
        exposure_ratio: BatchScalar,
        system_gain: BatchScalar,
    ) -> Tensor:
        """The network's photon-level conditioning map ``state * c / (r * K)``.

        Equal to the state's electrons divided by ``full_scale_dn``. It is the only "time"
        signal the network gets (there is no timestep embedding).

        Args:
            state: X_t, raw_norm at reference brightness.
            exposure_multiple: c_t of the state, ``(B,)`` or a number.
            exposure_ratio: r, ``(B,)`` or a number.
            system_gain: K, ``(B,)`` or a number.

        Returns:
            The map, same shape as ``state`` ``(B, C, H, W)``.
        """
        b = state.shape[0]
        c = _bcast(as_batch_vector(exposure_multiple, b, like=state, name="exposure_multiple"))
        r = _bcast(as_batch_vector(exposure_ratio, b, like=state, name="exposure_ratio"))
        k = _bcast(as_batch_vector(system_gain, b, like=state, name="system_gain"))
        return state * (c / (r * k))

    # --------------------------------------------------------------- re-exposure
    def reexpose(
        self,
        noisy: Tensor,
        state: Tensor,
        prediction: Tensor,
        c_cur: BatchScalar,
        c_next: BatchScalar,
        exposure_ratio: BatchScalar,
        system_gain: BatchScalar,
        *,
        generator: torch.Generator | None = None,
        straight_through: bool = False,
    ) -> Tensor:
        """Simulate the longer exposure at ``c_next`` from the current prediction (Eq. 9-10).

        With ``e(x, c)`` the electrons of :meth:`electrons`:

        * RESAMPLE_INPUT: ``e = e(X_T, 1) + Poisson(e(F, c_next - 1))``: the input's photons
          plus a fresh draw of the rest (the official code);
        * ACCUMULATE (Eq. 10): ``e = e(X_t, c_cur) + Poisson(e(F, c_next - c_cur))``;

        and the new state is ``e`` converted back at ``c_next``. The Poisson rate ``F`` is
        clipped to ``[0, 1]``; the photon source is clipped too when ``clip_input`` is set.

        Args:
            noisy: X_T, the input (multiple 1).
            state: X_t, the current state at ``c_cur``.
            prediction: F(X_t), the estimate of the reference.
            c_cur: multiple of ``state``, ``(B,)`` or a number.
            c_next: multiple of the new state, ``(B,)`` or a number (``>=`` the source's).
            exposure_ratio: r, ``(B,)`` or a number.
            system_gain: K, ``(B,)`` or a number.
            generator: source of the Poisson draws.
            straight_through: pass gradients through the draw as if it were its mean,
                ``(sample - mean).detach() + mean`` (training).

        Returns:
            The state at ``c_next``, raw_norm at reference brightness.

        Shape:
            noisy, state, prediction ``(B, C, H, W)`` -> ``(B, C, H, W)``.

        Raises:
            ValueError: mismatched shapes, or ``c_next`` below the photon source's multiple.
        """
        if noisy.shape != state.shape or prediction.shape != state.shape or state.dim() != 4:
            raise ValueError(
                "noisy, state and prediction must be equal (B, C, H, W) shapes, got "
                f"{tuple(noisy.shape)}, {tuple(state.shape)}, {tuple(prediction.shape)}"
            )
        b = state.shape[0]
        c0 = as_batch_vector(c_cur, b, like=state, name="c_cur")
        c1 = as_batch_vector(c_next, b, like=state, name="c_next")
        if self.reexposure is Reexposure.RESAMPLE_INPUT:
            source, c_source = noisy, torch.ones_like(c1)
        else:
            source, c_source = state, c0
        if bool(torch.any(c1 < c_source)):
            raise ValueError("c_next must not be below the multiple of the photons it adds to")
        if self.clip_input:
            source = source.clamp(0.0, 1.0)
        base = self.electrons(source, c_source, exposure_ratio, system_gain)
        rate = self.electrons(
            prediction.clamp(0.0, 1.0), c1 - c_source, exposure_ratio, system_gain
        )
        if straight_through and rate.requires_grad:
            draw = _draw_poisson(rate.detach(), generator)
            increment = (draw - rate).detach() + rate
        else:
            increment = _draw_poisson(rate.detach() if rate.requires_grad else rate, generator)
        return self.from_electrons(base + increment, c1, exposure_ratio, system_gain)
