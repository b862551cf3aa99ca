"""The command line starts fast: building its parser imports neither torch nor rawpy.

``expodiff --help`` used to take seconds because :mod:`expodiff.config` reached torch
through the enums it needs. The enums now live in torch-free ``kinds`` modules (and
:mod:`expodiff.cfa`); the old modules re-export them.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY_MODULES = ("torch", "rawpy")

_PROBE = """
import json, sys
import expodiff.cli
expodiff.cli.build_parser()
print(json.dumps(sorted(m for m in {heavy!r} if m in sys.modules)))
"""


def test_build_parser_imports_no_torch_or_rawpy():
    probe = _PROBE.format(heavy=HEAVY_MODULES)
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=False, timeout=120
    )
    assert done.returncode == 0, done.stderr
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    assert loaded == [], f"building the CLI parser imported {loaded}"


@pytest.mark.parametrize(
    ("old_module", "new_module", "name"),
    [
        ("expodiff.raw", "expodiff.cfa", "CFAPattern"),
        ("expodiff.raw", "expodiff.cfa", "ColourPlane"),
        ("expodiff.raw", "expodiff.cfa", "packed_channels"),
        ("expodiff.diffusion.process", "expodiff.diffusion.kinds", "Reexposure"),
        ("expodiff.diffusion.losses", "expodiff.diffusion.kinds", "LossKind"),
        ("expodiff.diffusion", "expodiff.diffusion.kinds", "LossKind"),
        ("expodiff.nets.denoiser", "expodiff.nets.kinds", "Prediction"),
        ("expodiff.nets", "expodiff.nets.kinds", "Prediction"),
        ("expodiff.noise.model", "expodiff.noise.kinds", "NoisePreset"),
        ("expodiff.noise", "expodiff.noise.kinds", "NoiseComponent"),
        ("expodiff.data.types", "expodiff.data.kinds", "Split"),
        ("expodiff.io.isp", "expodiff.io.kinds", "DemosaicMethod"),
    ],
)
def test_old_import_locations_reexport_the_same_objects(old_module, new_module, name):
    import importlib

    old = getattr(importlib.import_module(old_module), name)
    assert old is getattr(importlib.import_module(new_module), name)


@pytest.mark.parametrize("package", ["expodiff.noise", "expodiff.nets", "expodiff.diffusion"])
def test_lazy_packages_resolve_every_public_name(package):
    import importlib

    module = importlib.import_module(package)
    for name in module.__all__:
        assert getattr(module, name) is not None, name
    with pytest.raises(
        AttributeError, match=f"^module '{package}' has no attribute 'no_such_name'$"
    ):
        module.no_such_name  # noqa: B018
