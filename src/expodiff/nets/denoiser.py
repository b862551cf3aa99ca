"""The exposure denoiser: what ExposureDiffusion adds around any backbone.

A backbone is a plain image-to-image network ``(B, C_in, H, W) -> (B, C_out, H, W)``. The
:class:`ExposureDenoiser` feeds it

* the current state ``X_t`` (reference brightness, ``C`` channels),
* optionally the photon-level map ``X_t * c_t / (r * K)`` (``C`` channels; the only "time"
  signal, there is no timestep embedding),
* optionally the original input ``X_T`` (``C`` channels),

and turns its output into the prediction of the clean reference ``F(X_t)`` according to
:class:`Prediction`. With ``FUSED`` (the adaptive residual layer, paper Eq. 12) the backbone
outputs ``2C + 1`` channels: a mask logit, a direct estimate ``X̂`` and a residual ``R̂``, and

    M = sigmoid(logit),   F = M * clip(X̂, 0, 1) + (1 - M) * clip(X_t + R̂, 0, 1).

Inputs of any size work: they are padded (reflect) to a multiple of ``backbone.stride`` and the
output is cropped back. :class:`Prediction` is defined in :mod:`expodiff.nets.kinds` (torch-free,
for :mod:`expodiff.config`) and re-exported here.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..diffusion.output import DenoiserOutput
from ..kinds import Prediction

__all__ = ["Prediction", "DenoiserOutput", "ExposureDenoiser", "pad_to_multiple"]


def _clip_st(x: Tensor) -> Tensor:
    """``clip(x, 0, 1)`` in value, identity in gradient (straight-through)."""
    if not x.requires_grad:
        return x.clamp(0.0, 1.0)
    return x + (x.clamp(0.0, 1.0) - x).detach()


def pad_to_multiple(x: Tensor, multiple: int) -> tuple[Tensor, tuple[int, int]]:
    """Pad ``x`` at the bottom/right to a multiple of ``multiple``; returns ``(x, (h, w))``.

    Reflect padding where the image is large enough, replicate otherwise.
    """
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph == 0 and pw == 0:
        return x, (h, w)
    mode = "reflect" if ph < h and pw < w else "replicate"
    return F.pad(x, (0, pw, 0, ph), mode=mode), (h, w)


class ExposureDenoiser(nn.Module):
    """Conditioning channels and the prediction head around any backbone.

    Args:
        backbone: ``(B, in_channels_for(...), H, W) -> (B, out_channels_for(...), H, W)``.
            Its optional attribute ``stride`` (default 1) is the multiple inputs are padded to.
        channels: ``C``, channels of a packed raw image (4 for Bayer, 9 for X-Trans).
        condition_on_photons: feed the photon-level map.
        condition_on_input: feed the original input ``X_T`` (the official ``concat_origin``).
        prediction: how the backbone's output becomes the prediction.

    ``forward(state, photon_level, noisy=None)`` returns a :class:`DenoiserOutput`.
    DIRECT and RESIDUAL clip their output to ``[0, 1]`` with straight-through gradients;
    FUSED clips both branches as in Eq. 12 (the auxiliary loss supplies the gradients there).
    """

    def __init__(
        self,
        backbone: nn.Module,
        channels: int = 4,
        *,
        condition_on_photons: bool = True,
        condition_on_input: bool = False,
        prediction: Prediction = Prediction.FUSED,
    ) -> None:
        super().__init__()
        if channels < 1:
            raise ValueError(f"channels must be >= 1, got {channels}")
        self.backbone = backbone
        self.channels = int(channels)
        self.condition_on_photons = bool(condition_on_photons)
        self.condition_on_input = bool(condition_on_input)
        self.prediction = Prediction(prediction)
        self.stride = int(getattr(backbone, "stride", 1))
        self.channels_last = False

    # --------------------------------------------------------------- channels
    @staticmethod
    def in_channels_for(
        channels: int, condition_on_photons: bool = True, condition_on_input: bool = False
    ) -> int:
        """Input channels the backbone must accept."""
        return channels * (1 + int(condition_on_photons) + int(condition_on_input))

    @staticmethod
    def out_channels_for(channels: int, prediction: Prediction = Prediction.FUSED) -> int:
        """Output channels the backbone must produce (``2C + 1`` for FUSED)."""
        return 2 * channels + 1 if Prediction(prediction) is Prediction.FUSED else channels

    @property
    def in_channels(self) -> int:
        return self.in_channels_for(
            self.channels, self.condition_on_photons, self.condition_on_input
        )

    @property
    def out_channels(self) -> int:
        return self.out_channels_for(self.channels, self.prediction)

    def to_channels_last(self, enabled: bool = True) -> ExposureDenoiser:
        """Keep weights and activations in channels-last memory format (faster on some CPUs)."""
        fmt = torch.channels_last if enabled else torch.contiguous_format
        self.backbone.to(memory_format=fmt)
        self.channels_last = bool(enabled)
        return self

    def for_inference(self, channels_last: bool | None = None) -> ExposureDenoiser:
        """Evaluation mode, no parameter gradients, and the fastest memory format.

        ``channels_last=None`` picks channels-last on CPU and CUDA (measured 20-27 % faster
        for the U-Net and NAFNet2 on a 2-core AVX2 CPU; see docs/method.md), contiguous
        elsewhere. bf16 autocast is not applied: without native bf16 units it is ~100x slower
        on such CPUs; on GPUs wrap the sampler in ``torch.autocast`` yourself.
        """
        self.eval()
        self.requires_grad_(False)
        if channels_last is None:
            p = next(self.parameters(), None)
            channels_last = p is not None and p.device.type in ("cpu", "cuda")
        return self.to_channels_last(channels_last)

    def extra_repr(self) -> str:
        return (
            f"channels={self.channels}, condition_on_photons={self.condition_on_photons}, "
            f"condition_on_input={self.condition_on_input}, prediction={self.prediction.value}"
        )

    # ---------------------------------------------------------------- forward
    def network_input(
        self, state: Tensor, photon_level: Tensor | None, noisy: Tensor | None = None
    ) -> Tensor:
        """The concatenated backbone input ``[state, photon_level?, noisy?]``.

        Returns:
            ``(B, in_channels, H, W)``.

        Raises:
            ValueError: a wrong channel count, or a required conditioning input missing.
        """
        if state.dim() != 4 or state.shape[1] != self.channels:
            raise ValueError(f"state must be (B, {self.channels}, H, W), got {tuple(state.shape)}")
        parts = [state]
        if self.condition_on_photons:
            if photon_level is None or photon_level.shape != state.shape:
                raise ValueError("photon_level of the state's shape is required")
            parts.append(photon_level)
        if self.condition_on_input:
            if noisy is None or noisy.shape != state.shape:
                raise ValueError("condition_on_input needs noisy of the state's shape")
            parts.append(noisy)
        return torch.cat(parts, dim=1) if len(parts) > 1 else state

    def forward(
        self, state: Tensor, photon_level: Tensor | None = None, noisy: Tensor | None = None
    ) -> DenoiserOutput:
        """Predict the clean reference from a state.

        Args:
            state: X_t, raw_norm at reference brightness.
            photon_level: ``X_t * c_t / (r K)`` (required with ``condition_on_photons``).
            noisy: the original input X_T (required with ``condition_on_input``).

        Returns:
            The prediction (float32, in ``[0, 1]``) and, for FUSED, the ARL parts.

        Shape:
            every input ``(B, C, H, W)`` with any ``H, W`` -> prediction ``(B, C, H, W)``,
            mask ``(B, 1, H, W)``.
        """
        x = self.network_input(state, photon_level, noisy)
        x, (h, w) = pad_to_multiple(x, self.stride)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        y = self.backbone(x)
        if y.shape[1] != self.out_channels:
            raise ValueError(
                f"backbone returned {y.shape[1]} channels, {self.out_channels} expected"
            )
        y = y[..., :h, :w].float()
        return self.head(y, state)

    def head(self, y: Tensor, state: Tensor) -> DenoiserOutput:
        """Turn the backbone output into the prediction (Eq. 12 for FUSED).

        Args:
            y: backbone output cropped to the state's size ``(B, C_out, H, W)``.
            state: X_t ``(B, C, H, W)``.
        """
        if self.prediction is Prediction.DIRECT:
            return DenoiserOutput(_clip_st(y))
        if self.prediction is Prediction.RESIDUAL:
            return DenoiserOutput(_clip_st(state + y))
        c = self.channels
        mask = torch.sigmoid(y[:, :1])
        direct = y[:, 1 : 1 + c]
        residual = (state + y[:, 1 + c :]).clamp(0.0, 1.0)
        fused = mask * direct.clamp(0.0, 1.0) + (1.0 - mask) * residual
        return DenoiserOutput(fused, mask=mask, direct=direct, residual=residual)
