"""Per-image noise parameters of a batch (:class:`NoiseParams`)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from typing import Any

import torch
from torch import Tensor

from .components import tukey_lambda_variance

__all__ = ["NoiseParams", "read_noise_std"]


@dataclass(frozen=True)
class NoiseParams:
    """Per-image noise parameters of a batch, all in DN on the model's ``full_scale_dn``.

    Attributes:
        system_gain: ``(B,)`` K, DN per electron (> 0).
        read_sigma: ``(B,)`` sigma_g of Gaussian read noise.
        tukey_shape: ``(B,)`` lambda of Tukey-lambda read noise.
        tukey_scale: ``(B,)`` sigma_TL.
        row_sigma: ``(B,)`` sigma_r.
        colour_bias: ``(B, 4)`` per-channel offsets (R, Gr, B, Gb).
        camera_index: ``(B,)`` int64, index into the model's profiles (-1: not from one).
    """

    system_gain: Tensor
    read_sigma: Tensor
    tukey_shape: Tensor
    tukey_scale: Tensor
    row_sigma: Tensor
    colour_bias: Tensor
    camera_index: Tensor | None = None

    def __post_init__(self) -> None:
        b = self.system_gain.shape[0] if self.system_gain.dim() == 1 else -1
        for f in ("system_gain", "read_sigma", "tukey_shape", "tukey_scale", "row_sigma"):
            t = getattr(self, f)
            if not isinstance(t, Tensor) or t.shape != (b,):
                raise ValueError(
                    f"NoiseParams.{f} must be a (B,) tensor, got {getattr(t, 'shape', t)}"
                )
        if self.colour_bias.shape != (b, 4):
            raise ValueError(
                f"NoiseParams.colour_bias must be ({b}, 4), got {tuple(self.colour_bias.shape)}"
            )
        if self.camera_index is not None and self.camera_index.shape != (b,):
            raise ValueError(f"NoiseParams.camera_index must be ({b},)")
        k = self.system_gain
        if not bool(torch.all(torch.isfinite(k))) or not bool(torch.all(k > 0)):
            raise ValueError(f"system_gain K must be finite and > 0, got {k.tolist()}")
        for f in ("read_sigma", "tukey_scale", "row_sigma"):
            if bool(torch.any(getattr(self, f) < 0)):
                raise ValueError(f"NoiseParams.{f} must be >= 0")

    @property
    def batch_size(self) -> int:
        return int(self.system_gain.shape[0])

    @property
    def device(self) -> torch.device:
        return self.system_gain.device

    def to(self, device: torch.device | str) -> NoiseParams:
        """All tensors on ``device``."""
        return NoiseParams(
            **{
                f.name: (
                    None if getattr(self, f.name) is None else getattr(self, f.name).to(device)
                )
                for f in fields(self)
            }
        )

    def select(self, index: int | slice | Tensor) -> NoiseParams:
        """The parameters of some samples (an int keeps a batch of one)."""
        if isinstance(index, int):
            index = slice(index, index + 1)
        return NoiseParams(
            **{
                f.name: (None if getattr(self, f.name) is None else getattr(self, f.name)[index])
                for f in fields(self)
            }
        )

    def repeat(self, batch_size: int) -> NoiseParams:
        """A batch-of-one broadcast to ``batch_size`` samples."""
        if self.batch_size == batch_size:
            return self
        if self.batch_size != 1:
            raise ValueError(f"cannot broadcast params of batch {self.batch_size} to {batch_size}")
        return NoiseParams(
            **{
                f.name: (
                    None
                    if getattr(self, f.name) is None
                    else getattr(self, f.name).expand(batch_size, *getattr(self, f.name).shape[1:])
                )
                for f in fields(self)
            }
        )

    @staticmethod
    def cat(params: Sequence[NoiseParams]) -> NoiseParams:
        """Concatenate along the batch."""
        if not params:
            raise ValueError("cannot concatenate an empty list of NoiseParams")
        out = {}
        for f in fields(NoiseParams):
            values = [getattr(p, f.name) for p in params]
            out[f.name] = None if any(v is None for v in values) else torch.cat(values)
        return NoiseParams(**out)


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
        var += tukey_scale**2 * tukey_lambda_variance(tukey_shape)
    elif read_sigma is not None and (not known or "gaussian" in names):
        var += read_sigma**2
    row = _param(params, "row_sigma", index)
    if row is not None and (not known or "row" in names):
        var += row**2
    if "quantization" in names:
        var += 1.0 / 12.0
    return var**0.5
