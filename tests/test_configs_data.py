"""Every shipped config's data loads at the config's own sizes (no test overrides).

The paper configs once asked for ``patch_size: 256`` although CBSD68 is only 240x160 once
packed; their training tests overrode the sizes, so nothing noticed. Here each config whose
data is available on this machine (``unprocess`` of the clean sets in the reference data)
builds its train and (if configured) val dataset exactly as written and loads one sample of
each, and a synthetic evaluation section yields its first pair.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from expodiff.config import load_config
from expodiff.kinds import DatasetKind, EvalProtocol, Split

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def _local_data_configs() -> list[Path]:
    """The top-level configs whose data this machine has: unprocessed clean sets."""
    found = []
    for path in sorted(CONFIGS.glob("*.yaml")):
        data = load_config(path).data
        if data.kind is DatasetKind.UNPROCESS and data.root is None:
            found.append(path)
    return found


LOCAL_DATA_CONFIGS = _local_data_configs()


def test_most_configs_have_local_data():
    # Guards the parametrisation below against silently testing nothing.
    assert len(LOCAL_DATA_CONFIGS) >= 10


@pytest.mark.parametrize("path", LOCAL_DATA_CONFIGS, ids=lambda p: p.stem)
def test_train_and_val_data_load_at_the_config_sizes(path, data_dir):
    from expodiff.data.factory import build_dataset, has_split

    cfg = load_config(path)
    expected = {Split.TRAIN: cfg.data.patch_size, Split.VAL: cfg.data.val_crop}
    assert has_split(cfg.data, Split.TRAIN)
    for split in (Split.TRAIN, Split.VAL):
        if not has_split(cfg.data, split):
            continue
        dataset = build_dataset(cfg.data, split, seed=cfg.train.seed)
        assert len(dataset) > 0, split
        sample = dataset[0]
        side = expected[split]
        if side is not None:
            assert tuple(sample.clean.shape[-2:]) == (side, side), split
        assert sample.clean.shape[0] == 4


@pytest.mark.parametrize(
    "path",
    [p for p in sorted(CONFIGS.glob("*.yaml")) if "eval" in yaml.safe_load(p.read_text())],
    ids=lambda p: p.stem,
)
def test_synthetic_eval_section_yields_its_first_pair(path, data_dir):
    from expodiff.eval.protocols import protocol_pairs

    cfg = load_config(path)
    if cfg.eval.protocol is not EvalProtocol.SYNTHETIC:
        pytest.skip(f"{cfg.eval.protocol.value} needs real paired data, not available here")
    pairs, _ = protocol_pairs(cfg, cfg.eval.protocol)
    first = next(iter(pairs))
    side = cfg.eval.crop
    assert first.noisy.shape == first.clean.shape and first.clean.shape[:2] == (1, 4)
    if side is not None:
        assert tuple(first.clean.shape[-2:]) == (side, side)
