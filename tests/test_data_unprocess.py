import pickle
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from expodiff.data.augment import CropMode, SampleTransform
from expodiff.data.base import RawDataset, item_rng
from expodiff.data.unprocess import (
    BRIGHTNESS_RANGE,
    invert_white_balance,
    mosaic_packed,
    srgb_to_linear,
    unprocess,
)
from expodiff.data.unprocess_dataset import (
    SceneMetadata,
    UnprocessDataset,
    load_scene_metadata,
    read_srgb,
)
from expodiff.errors import DataError
from expodiff.io.isp import apply_colour_matrix, apply_white_balance, develop, srgb_encode
from expodiff.raw import CFAPattern
from torch_helpers import assert_close_across_paths

# A real SID scene (00001_00_10s of SID_train): Sony A7S2 colour matrix and as-shot WB.
SONY_CCM = (
    (1.9712269, -0.6789218, -0.29230508),
    (-0.29104823, 1.748401, -0.45735288),
    (0.02051281, -0.5380369, 1.5175241),
)
SONY_WB = (1.9296875, 1.0, 2.26171875, 1.0)


def test_srgb_curve_is_the_exact_inverse():
    x = torch.linspace(0, 1, 1001)
    assert torch.allclose(srgb_encode(srgb_to_linear(x)), x, atol=1e-6)
    assert srgb_to_linear(torch.tensor(0.5)).item() == pytest.approx(0.214041, abs=1e-6)
    assert srgb_to_linear(torch.tensor(0.04)).item() == pytest.approx(0.04 / 12.92)


def test_uniform_colour_round_trips_through_the_isp_exactly():
    srgb = torch.tensor([0.6, 0.45, 0.3]).view(3, 1, 1).expand(3, 4, 6).clone()
    packed = unprocess(srgb, colour_matrix=SONY_CCM, white_balance=SONY_WB, brightness=1.0)
    assert packed.shape == (4, 2, 3)
    # Forward ISP of expodiff.io.isp on the planes: WB, (trivial demosaic), CCM, sRGB curve.
    balanced = apply_white_balance(packed, CFAPattern.RGGB, SONY_WB)
    camera = torch.stack([balanced[0], 0.5 * (balanced[1] + balanced[3]), balanced[2]])
    again = srgb_encode(apply_colour_matrix(camera, SONY_CCM))
    assert torch.allclose(again, srgb[:, :2, :3], atol=1e-5)
    # R and B were divided by their gains (>1): they are darker than green in raw.
    assert packed[0].mean() < packed[1].mean() and packed[2].mean() < packed[1].mean()


def test_smooth_image_round_trips_through_develop():
    h, w = 32, 40
    y, x = torch.meshgrid(torch.linspace(0, 1, h), torch.linspace(0, 1, w), indexing="ij")
    srgb = torch.stack([0.2 + 0.5 * x, 0.3 + 0.3 * y, 0.6 - 0.3 * x * y])
    packed = unprocess(srgb, colour_matrix=SONY_CCM, white_balance=SONY_WB, brightness=1.0)
    out = torch.from_numpy(develop(packed, CFAPattern.RGGB, SONY_WB, SONY_CCM)).permute(2, 0, 1)
    inner = (slice(None), slice(2, -2), slice(2, -2))  # bilinear demosaic edges
    assert (out[inner] - srgb[inner]).abs().max() < 0.02


def test_brightness_scales_linearly_and_highlights_stay_white():
    srgb = torch.full((3, 4, 4), 0.5)
    a = unprocess(srgb, colour_matrix=SONY_CCM, white_balance=SONY_WB, brightness=1.0)
    b = unprocess(srgb, colour_matrix=SONY_CCM, white_balance=SONY_WB, brightness=0.5)
    assert torch.allclose(b, 0.5 * a, atol=1e-6)
    white = unprocess(torch.ones(3, 4, 4), colour_matrix=SONY_CCM, white_balance=SONY_WB)
    assert torch.allclose(white, torch.ones_like(white))  # clipped stays clipped, no cast
    # Below the highlight threshold the plain inverse gains apply.
    grey = torch.full((3, 1, 1), 0.5)
    out = invert_white_balance(grey, SONY_WB)
    assert torch.allclose(out.flatten(), torch.tensor([0.5 / 1.9296875, 0.5, 0.5 / 2.26171875]))


@pytest.mark.parametrize("cfa", [CFAPattern.RGGB, CFAPattern.GRBG, CFAPattern.BGGR])
def test_mosaic_samples_each_plane_at_its_cfa_position(cfa):
    h, w = 4, 6
    yy, xx = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    code = (10 * yy + xx).float()
    rgb = torch.stack([code, code + 1000, code + 2000])  # colour in the thousands
    packed = mosaic_packed(rgb, cfa)
    pmap = cfa.plane_map()
    colour_of_plane = (0, 1, 2, 1)
    for dy in range(2):
        for dx in range(2):
            p = pmap[dy][dx]
            expected = code[dy::2, dx::2] + 1000 * colour_of_plane[p]
            assert torch.equal(packed[p], expected)
    with pytest.raises(ValueError, match="Bayer"):
        mosaic_packed(rgb, CFAPattern.XTRANS)


def test_unprocess_input_errors():
    with pytest.raises(ValueError, match=r"\(3, H, W\)"):
        unprocess(torch.zeros(4, 4), colour_matrix=SONY_CCM, white_balance=SONY_WB)
    with pytest.raises(ValueError, match="singular"):
        unprocess(torch.zeros(3, 4, 4), colour_matrix=np.zeros((3, 3)), white_balance=SONY_WB)
    odd = unprocess(torch.rand(3, 5, 7), colour_matrix=SONY_CCM, white_balance=SONY_WB)
    assert odd.shape == (4, 2, 3)


# ------------------------------------------------------------------ the dataset
SCENES = [
    SceneMetadata("a", 200.0, SONY_WB, SONY_CCM),
    SceneMetadata("b", 3200.0, (2.5, 1.0, 1.5, 1.0), SONY_CCM),
    SceneMetadata("c", 25600.0, (1.6, 1.0, 2.0, 1.0), SONY_CCM),
]


@pytest.fixture()
def image_sets(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    for folder, n, size in (("setA", 3, (40, 30)), ("setB", 2, (24, 36))):
        (tmp_path / folder).mkdir()
        for i in range(n):
            arr = rng.integers(0, 256, size=(*size, 3), dtype=np.uint8)
            Image.fromarray(arr).save(tmp_path / folder / f"im{i}.png")
    (tmp_path / "setB" / "notes.txt").write_text("not an image")
    return tmp_path


def test_dataset_is_deterministic_per_image_seed_and_draw(image_sets):
    folders = [image_sets / "setA", image_sets / "setB"]
    ds = UnprocessDataset(folders, SCENES, transform=SampleTransform(), seed=5)
    assert len(ds) == 5 and ds.names()[3] == "setB/im0.png"
    s = ds[3]
    assert s.clean.shape == (4, 12, 18) and s.noisy is None and s.system_gain is None
    assert s.camera == "SonyA7S2" and s.cfa is CFAPattern.RGGB
    assert (s.iso, s.white_balance) in {(m.iso, m.white_balance) for m in SCENES}
    again = UnprocessDataset(folders[::-1], SCENES, transform=SampleTransform(), seed=5)
    same = again[again.names().index("setB/im0.png")]
    assert torch.equal(s.clean, same.clean) and s.iso == same.iso  # order-independent
    draws = {(ds[3 + 5 * k].iso, float(ds[3 + 5 * k].clean.mean())) for k in range(6)}
    assert len(draws) > 1  # later draws (epochs) change metadata and brightness
    other_seed = UnprocessDataset(folders, SCENES, transform=SampleTransform(), seed=6)
    assert not all(torch.equal(ds[i].clean, other_seed[i].clean) for i in range(len(ds)))
    assert pickle.loads(pickle.dumps(ds)).names() == ds.names()


def test_brightness_rule_range(image_sets):
    ds = UnprocessDataset([image_sets / "setA"], SCENES)
    values = [ds.draw_settings(np.random.default_rng(s))[1] for s in range(500)]
    assert BRIGHTNESS_RANGE[0] <= min(values) and max(values) <= BRIGHTNESS_RANGE[1]
    assert np.mean(values) == pytest.approx(0.8, abs=0.02)


@pytest.mark.parametrize(
    "transform",
    [
        SampleTransform(CropMode.RANDOM, 8, augment=True),
        SampleTransform(CropMode.CENTRE, 10),
        SampleTransform(augment=True),
    ],
)
def test_early_crop_equals_crop_after_unprocessing(image_sets, transform):
    ds = UnprocessDataset([image_sets / "setA", image_sets / "setB"], SCENES, transform=transform)
    for index in range(12):
        item, draw = index % len(ds), index // len(ds)
        fast = ds[index]
        slow = RawDataset.load_transformed(ds, item, item_rng(0, ds.item_key(item), draw))
        # Two paths (a power and a matrix product over different sizes): equal up to rounding.
        assert_close_across_paths(fast.clean, slow.clean)
        assert replace(fast, clean=slow.clean) == replace(slow, clean=slow.clean)


def test_dataset_errors(image_sets, tmp_path):
    with pytest.raises(DataError, match="image folder not found"):
        UnprocessDataset([tmp_path / "nope"], SCENES)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no image files"):
        UnprocessDataset([tmp_path / "empty"], SCENES)
    with pytest.raises(DataError, match="scene metadata"):
        UnprocessDataset([image_sets / "setA"], [])
    ds = UnprocessDataset([image_sets / "setA"], SCENES, transform=SampleTransform("random", 64))
    with pytest.raises(DataError, match=r"setA/im0.png: packed size 20x15 is smaller"):
        ds[0]
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "x.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    with pytest.raises(DataError, match=r"x.png: cannot read image"):
        UnprocessDataset([bad], SCENES)[0]


def test_dataset_folders_skip_hidden_files(image_sets):
    folder = image_sets / "setA"
    (folder / "._im0.png").write_bytes(b"\x00\x05\x16\x07" + bytes(100))  # macOS AppleDouble
    (folder / ".im9.x1y2.tmp.png").write_bytes(b"\x89PNG\r\n\x1a\n")  # a cut-off write
    ds = UnprocessDataset([folder], SCENES)
    assert ds.names() == ["setA/im0.png", "setA/im1.png", "setA/im2.png"]
    assert all(ds[i].clean.shape[0] == 4 for i in range(len(ds)))


def test_read_srgb_modes(tmp_path):
    Image.fromarray(np.full((4, 6), 255, np.uint8)).save(tmp_path / "grey.png")
    grey = read_srgb(tmp_path / "grey.png")
    assert grey.shape == (3, 4, 6) and torch.all(grey == 1.0)
    import tifffile

    tifffile.imwrite(tmp_path / "deep.tif", np.full((4, 6, 3), 65535, np.uint16))
    assert torch.all(read_srgb(tmp_path / "deep.tif") == 1.0)


@pytest.mark.data
def test_real_scene_metadata_and_clean_sets(data_dir, tmp_path):
    train = load_scene_metadata(data_dir / "sid_meta" / "SID_train.info.json")
    test = load_scene_metadata(data_dir / "sid_meta" / "SID_test.info.json")
    assert len(train) == 161 and len(test) == 20
    assert train[0].name == "00001_00_10s" and train[0].white_balance[1] == 1.0
    ds = UnprocessDataset([data_dir / "clean" / "Kodak24"], test, seed=0)
    assert len(ds) == 24
    s = ds[0]
    assert s.clean.shape == (4, 250, 250) and s.iso in {m.iso for m in test}
    # A realistic level: mean raw_norm of a natural image is about 0.05-0.3.
    assert 0.02 < float(s.clean.mean()) < 0.4 and 0.0 <= float(s.clean.min())
    bad = tmp_path / "bad.json"
    bad.write_text('[{"name": "x"}]')
    with pytest.raises(DataError, match="lacks name/ISO/wb/ccm"):
        load_scene_metadata(bad)
    with pytest.raises(DataError, match="not found"):
        load_scene_metadata(tmp_path / "missing.json")
