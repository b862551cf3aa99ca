"""The patch cache: build, read back, atomicity, and the ``expodiff cache-patches`` command."""

import json
import pickle

import numpy as np
import pytest
import torch
from PIL import Image

from expodiff.cli import main
from expodiff.config import load_config
from expodiff.data.augment import CropMode, SampleTransform
from expodiff.data.base import item_rng
from expodiff.data.cache import PatchCacheDataset, build_patch_cache, read_manifest
from expodiff.data.factory import ProfileGain, build_dataset
from expodiff.data.sid import SIDPairedDataset
from expodiff.data.unprocess_dataset import SceneMetadata, UnprocessDataset
from expodiff.errors import DataError, OutputFileError

CCM = ((1.9, -0.7, -0.2), (-0.3, 1.7, -0.4), (0.0, -0.5, 1.5))
SCENES = [
    SceneMetadata("a", 200.0, (2.0, 1.0, 2.2, 1.0), CCM),
    SceneMetadata("b", 800.0, (1.5, 1.0, 2.5, 1.0), CCM),
]


@pytest.fixture()
def images(tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        Image.fromarray(rng.integers(0, 256, (40, 36, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    return folder


def test_real_pair_cache_round_trip(sid, tmp_path):
    source = SIDPairedDataset(
        sid.root, sid.official_list, gain_for_iso=ProfileGain.for_cameras(["SonyA7S2"])
    )
    calls = []
    manifest = build_patch_cache(
        source,
        tmp_path / "c",
        patch_size=12,
        patches_per_image=3,
        seed=4,
        description={"data": {"kind": "sid_paired"}},
        progress=lambda d, t: calls.append((d, t)),
    )
    assert calls[-1] == (4, 4)
    assert manifest.count == 12 and manifest.has_noisy and manifest.channels == 4
    assert read_manifest(tmp_path / "c") == manifest
    ds = PatchCacheDataset(tmp_path / "c")
    assert len(ds) == 12
    records = json.loads((tmp_path / "c" / "samples.json").read_text())
    for index in (0, 4, 11):
        patch, rec = ds[index], records[index]
        full = source[rec["source_item"]]
        window = (slice(None), slice(rec["y"], rec["y"] + 12), slice(rec["x"], rec["x"] + 12))
        assert torch.equal(patch.clean, full.clean[window])
        assert torch.equal(patch.noisy, full.noisy[window])
        assert patch.exposure_ratio == full.exposure_ratio
        assert patch.system_gain == full.system_gain and patch.iso == full.iso
        assert patch.name == full.name and patch.white_balance == full.white_balance
        assert patch.colour_matrix == full.colour_matrix  # JSON keeps floats exactly
    # Positions vary and are reproducible from the seed.
    assert len({(r["y"], r["x"]) for r in records}) > 6
    again = build_patch_cache(source, tmp_path / "c2", patch_size=12, patches_per_image=3, seed=4)
    assert again.count == 12
    assert np.array_equal(
        np.load(tmp_path / "c" / "clean.npy"), np.load(tmp_path / "c2" / "clean.npy")
    )
    # Training view: random 8-px crops of the 12-px patches, flipped; pickles without arrays.
    train = PatchCacheDataset(tmp_path / "c", transform=SampleTransform(CropMode.RANDOM, 8, True))
    _ = train[0]
    assert train._arrays is not None
    clone = pickle.loads(pickle.dumps(train))
    assert clone._arrays is None and torch.equal(clone[5].clean, train[5].clean)
    with pytest.raises(DataError, match="smaller than the requested crop 16"):
        PatchCacheDataset(tmp_path / "c", transform=SampleTransform(CropMode.RANDOM, 16))


def test_random_source_draws_per_patch_and_float16(images, tmp_path):
    source = UnprocessDataset([images], SCENES, seed=0)
    m = build_patch_cache(
        source, tmp_path / "u", patch_size=8, patches_per_image=4, dtype="float16"
    )
    assert m.count == 12 and not m.has_noisy and m.dtype == "float16"
    records = json.loads((tmp_path / "u" / "samples.json").read_text())
    assert [r["draw"] for r in records[:4]] == [0, 1, 2, 3]
    ds = PatchCacheDataset(tmp_path / "u")
    p = ds[1]
    assert p.clean.dtype == torch.float32 and p.noisy is None
    full = source.load(0, item_rng(0, source.item_key(0), 1))  # draw 1 of image 0
    r = records[1]
    ref = full.clean[:, r["y"] : r["y"] + 8, r["x"] : r["x"] + 8]
    assert torch.allclose(p.clean, ref, atol=1e-3, rtol=1e-3)
    assert p.iso == full.iso


def test_output_rules_and_atomicity(images, tmp_path):
    source = UnprocessDataset([images], SCENES)
    out = tmp_path / "cache"
    build_patch_cache(source, out, patch_size=8, patches_per_image=1)
    with pytest.raises(OutputFileError, match="already exists"):
        build_patch_cache(source, out, patch_size=8, patches_per_image=1)
    build_patch_cache(source, out, patch_size=6, patches_per_image=2, overwrite=True)
    assert read_manifest(out).patch_size == 6
    (tmp_path / "precious").mkdir()
    with pytest.raises(OutputFileError, match="not a patch cache"):
        build_patch_cache(
            source, tmp_path / "precious", patch_size=8, patches_per_image=1, overwrite=True
        )
    with pytest.raises(DataError, match="packed size 20x18 is smaller than the crop size 32"):
        build_patch_cache(source, tmp_path / "big", patch_size=32, patches_per_image=1)

    def interrupt(done, total):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt, match="^$"):  # the caller's own, not wrapped
        build_patch_cache(
            source, tmp_path / "half", patch_size=8, patches_per_image=1, progress=interrupt
        )
    leftovers = sorted(p.name for p in tmp_path.iterdir())
    assert leftovers == ["cache", "imgs", "precious"]  # no half cache, no temporary folder
    with pytest.raises(ValueError, match="full-frame source"):
        build_patch_cache(
            UnprocessDataset([images], SCENES, transform=SampleTransform(CropMode.CENTRE, 4)),
            tmp_path / "x",
            patch_size=4,
            patches_per_image=1,
        )


def test_corrupt_cache_errors(images, tmp_path):
    source = UnprocessDataset([images], SCENES)
    out = tmp_path / "c"
    build_patch_cache(source, out, patch_size=8, patches_per_image=1)
    with pytest.raises(DataError, match="not a patch cache"):
        PatchCacheDataset(tmp_path / "imgs")
    np.save(out / "clean.npy", np.zeros((2, 4, 8, 8), np.float32))
    with pytest.raises(DataError, match="does not match the manifest"):
        PatchCacheDataset(out)[0]
    (out / "manifest.json").write_text("{broken")
    with pytest.raises(DataError, match="unreadable cache manifest"):
        PatchCacheDataset(out)


def test_cache_patches_cli_and_training_from_cache(sid, tmp_path, capsys):
    args = [
        "--set",
        "data.kind=sid_paired",
        "--set",
        f"data.root={sid.root}",
        "--set",
        f"data.sid_lists={sid.eld_list}",
        "--set",
        "data.patch_size=8",
    ]
    out = tmp_path / "cache"
    code = main(
        [
            "cache-patches",
            *args,
            "-o",
            str(out),
            "--patch-size",
            "12",
            "--patches-per-image",
            "2",
            "--quiet",
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "wrote 8 patches of 4x12x12" in printed and f"data.cache={out}" in printed
    manifest = read_manifest(out)
    assert manifest.source["data"]["kind"] == "sid_paired" and manifest.source["split"] == "train"
    cfg = load_config(None, [a for a in args if a != "--set"] + [f"data.cache={out}"]).data
    train = build_dataset(cfg, "train", seed=1)
    assert isinstance(train, PatchCacheDataset)
    s = train[3]
    assert (
        s.clean.shape == (4, 8, 8) and s.noisy is not None and s.exposure_ratio in (100, 250, 300)
    )
    assert not isinstance(build_dataset(cfg, "test"), PatchCacheDataset)  # cache is train-only
    # Existing output without --overwrite: one clear line, nothing touched.
    assert main(["cache-patches", *args, "-o", str(out), "--quiet"]) == 2
    assert "already exists" in capsys.readouterr().err
    # A cache built from another kind is refused.
    wrong = load_config(None, [f"data.cache={out}"]).data
    with pytest.raises(DataError, match="built from data.kind=sid_paired"):
        build_dataset(wrong, "train")
    # Bad inputs through the CLI: a missing dataset root.
    assert (
        main(
            [
                "cache-patches",
                "--set",
                "data.kind=sid_paired",
                "--set",
                f"data.root={tmp_path / 'nowhere'}",
                "-o",
                str(tmp_path / "x"),
            ]
        )
        == 2
    )
    assert "not found" in capsys.readouterr().err
    with pytest.raises(SystemExit, match="^2$"):
        main(["cache-patches", "-o", str(tmp_path / "y"), "--patch-size", "0"])
