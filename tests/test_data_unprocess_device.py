"""data.unprocess_on_device: workers crop, the training loop unprocesses a batch at once.

The deferred path must give the samples the worker path gives (up to float rounding), for
every Bayer layout, 8- and 16-bit sources and every flip; bad settings are one-line errors.
"""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
import torch

from expodiff.data.factory import build_dataset
from expodiff.data.types import RawBatch, SrgbBatch, SrgbSample, collate_samples
from expodiff.data.unprocess import linearise, srgb_to_linear, unprocess, unprocess_batch
from expodiff.errors import ConfigError
from expodiff.kinds import Split
from expodiff.raw import CFAPattern
from expodiff.train.loop import Trainer
from expodiff.train.setup import next_batch
from torch_helpers import assert_close_across_paths
from train_helpers import make_images, tiny

BAYER = [c for c in CFAPattern if c.is_bayer]


def _settings(n: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    ccm = torch.eye(3) + 0.3 * torch.rand(n, 3, 3, generator=g)
    ccm = ccm / ccm.sum(-1, keepdim=True)
    wb = torch.stack(
        [
            1 + torch.rand(n, generator=g),
            torch.ones(n),
            1 + torch.rand(n, generator=g),
            torch.ones(n),
        ],
        dim=1,
    )
    return ccm, wb, 0.5 + 0.6 * torch.rand(n, generator=g)


@pytest.mark.parametrize("cfa", BAYER, ids=lambda c: c.value)
def test_batch_equals_one_at_a_time(cfa):
    n = 4
    srgb = torch.rand(n, 3, 12, 20, generator=torch.Generator().manual_seed(1))
    srgb[0, :, :6, :6] = 0.97  # highlights: the gains fade out there
    ccm, wb, brightness = _settings(n)
    batch = unprocess_batch(
        srgb, colour_matrix=ccm, white_balance=wb, brightness=brightness, cfa=cfa
    )
    each = torch.stack(
        [
            unprocess(
                srgb[i],
                colour_matrix=ccm[i].tolist(),
                white_balance=wb[i].tolist(),
                brightness=float(brightness[i]),
                cfa=cfa,
            )
            for i in range(n)
        ]
    )
    assert batch.shape == (n, 4, 6, 10)
    torch.testing.assert_close(batch, each, atol=1e-6, rtol=0)


def test_batch_rejects_bad_settings():
    srgb = torch.rand(2, 3, 8, 8)
    ccm, wb, brightness = _settings(2)
    with pytest.raises(ValueError, match="singular"):
        unprocess_batch(
            srgb, colour_matrix=torch.zeros(2, 3, 3), white_balance=wb, brightness=brightness
        )
    with pytest.raises(ValueError, match="positive"):
        unprocess_batch(srgb, colour_matrix=ccm, white_balance=-wb, brightness=brightness)
    with pytest.raises(ValueError, match="even"):
        unprocess_batch(srgb[..., :7], colour_matrix=ccm, white_balance=wb, brightness=brightness)
    with pytest.raises(ValueError, match="brightness must be"):
        unprocess_batch(srgb, colour_matrix=ccm, white_balance=wb, brightness=brightness[:1])
    with pytest.raises(ValueError, match="Bayer"):
        unprocess_batch(
            srgb, colour_matrix=ccm, white_balance=wb, brightness=brightness, cfa=CFAPattern.XTRANS
        )


@pytest.fixture(scope="module")
def images(tmp_path_factory, data_dir):  # noqa: ARG001 (unprocess needs sid_meta)
    root = make_images(tmp_path_factory.mktemp("clean"))
    g = np.random.default_rng(3)  # a 16-bit source beside the 8-bit ones
    tifffile.imwrite(root / "set" / "deep.tif", (g.random((48, 40, 3)) * 65535).astype(np.uint16))
    return root


@pytest.mark.parametrize("cfa", [CFAPattern.RGGB, CFAPattern.GBRG], ids=lambda c: c.value)
def test_deferred_dataset_gives_the_worker_samples(images, tmp_path, cfa):
    sets = (f"data.cfa={cfa.value}", "data.wb_jitter=2.0", "data.patch_size=8")
    plain = tiny("pg-unet-ed", tmp_path / "a", images, *sets).data
    deferred = tiny(
        "pg-unet-ed", tmp_path / "b", images, *sets, "data.unprocess_on_device=true"
    ).data
    a = build_dataset(plain, Split.TRAIN, seed=5)
    b = build_dataset(deferred, Split.TRAIN, seed=5)
    n = 4 * len(a)  # several draws of every image: many crops, scenes and flips
    samples = [b[i] for i in range(n)]
    assert all(isinstance(s, SrgbSample) for s in samples)
    assert {s.srgb.dtype for s in samples} == {torch.uint8, torch.float32}
    assert len({s.flips for s in samples}) > 2
    got = collate_samples(samples)
    assert isinstance(got, SrgbBatch)
    raw = got.unprocess()
    want = collate_samples([a[i] for i in range(n)])
    assert isinstance(raw, RawBatch) and raw.noisy is None
    torch.testing.assert_close(raw.clean, want.clean, atol=2e-6, rtol=0)
    torch.testing.assert_close(raw.white_balance, want.white_balance)
    torch.testing.assert_close(raw.colour_matrix, want.colour_matrix)
    assert raw.name == want.name and raw.iso == want.iso and raw.cfa == want.cfa
    # validation is not deferred
    assert not isinstance(build_dataset(deferred, Split.VAL, seed=5)[0], SrgbSample)


def test_trainer_unprocesses_on_its_device(images, tmp_path):
    plain = Trainer(tiny("pg-unet-ed", tmp_path / "a", images))
    deferred = Trainer(tiny("pg-unet-ed", tmp_path / "b", images, "data.unprocess_on_device=true"))
    a = next_batch(iter(plain._loader(0)), plain.device)
    b = next_batch(iter(deferred._loader(0)), deferred.device)
    assert isinstance(b, RawBatch)
    torch.testing.assert_close(b.clean, a.clean, atol=2e-6, rtol=0)
    result = deferred.run()
    assert result.step == 4 and result.model_dir is not None


@pytest.mark.parametrize(
    "extra, message",
    [
        (("data.cache=/nowhere",), "exclude each other"),
        (("data.kind=clean_raw",), "needs data.kind=unprocess"),
    ],
)
def test_unprocess_on_device_misconfigured(images, tmp_path, extra, message):
    cfg = tiny("pg-unet-ed", tmp_path / "x", images, "data.unprocess_on_device=true", *extra)
    with pytest.raises(ConfigError, match=message):
        Trainer(cfg)


def test_bytes_are_linearised_as_floats():
    """8-bit codes go through a 256-entry table, floats through the power law per pixel: two
    kernels (vectorised or not, per CPU) that agree up to float32 rounding."""
    codes = torch.randint(
        0, 256, (2, 3, 6, 8), dtype=torch.uint8, generator=torch.Generator().manual_seed(2)
    )
    ccm, wb, brightness = _settings(2)
    kw = dict(colour_matrix=ccm, white_balance=wb, brightness=brightness)
    assert_close_across_paths(
        unprocess_batch(codes, **kw), unprocess_batch(codes.float() / 255.0, **kw)
    )
    single = dict(colour_matrix=ccm[0].tolist(), white_balance=wb[0].tolist(), brightness=0.7)
    assert_close_across_paths(
        unprocess(codes[0], **single), unprocess(codes[0].float() / 255.0, **single)
    )
    # every code of the table, against the float path
    every = torch.arange(256, dtype=torch.uint8).view(1, 16, 16)
    assert_close_across_paths(linearise(every), srgb_to_linear(every.float() / 255.0))
