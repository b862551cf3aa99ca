"""The command line starts fast: building its parser imports neither torch nor rawpy.

``expodiff --help`` used to take seconds because :mod:`expodiff.config` reached torch
through the enums it needs. The enums now live in the torch-free :mod:`expodiff.kinds` (and
:mod:`expodiff.cfa`), which the config imports instead of the packages.
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


def test_every_closed_set_is_defined_once_in_kinds():
    """The configs' and CLI's enums live in expodiff.kinds; the packages re-export the same
    objects (CFAPattern stays with its geometry in expodiff.cfa)."""
    import enum
    import importlib

    import expodiff.kinds as kinds

    sets = [getattr(kinds, n) for n in kinds.__all__ if isinstance(getattr(kinds, n), type)]
    assert all(issubclass(k, enum.Enum) and k.__module__ == "expodiff.kinds" for k in sets)
    for module, name in [
        ("expodiff.noise", "NoiseComponent"),
        ("expodiff.nets", "Prediction"),
        ("expodiff.diffusion", "LossKind"),
        ("expodiff.raw", "CFAPattern"),
    ]:
        assert getattr(importlib.import_module(module), name) is getattr(
            kinds if name != "CFAPattern" else importlib.import_module("expodiff.cfa"), name
        )


def test_parse_enum_is_the_one_parser():
    from expodiff.cfa import CFAPattern
    from expodiff.errors import NoiseModelError
    from expodiff.kinds import EvalProtocol, NoiseComponent, NoisePreset, Split, parse_enum

    assert parse_enum(CFAPattern, "x-trans") is CFAPattern.XTRANS
    assert parse_enum(CFAPattern, " rggb ") is CFAPattern.RGGB
    assert parse_enum(EvalProtocol, "SID15_CROP") is EvalProtocol.SID15_CROP  # the Python name
    assert parse_enum(NoisePreset, "ELD+BIAS") is NoisePreset.ELD_BIAS
    assert parse_enum(Split, Split.VAL) is Split.VAL
    with pytest.raises(ValueError, match=r"^unknown split 'dev'; valid: train, val, test$"):
        parse_enum(Split, "dev")
    with pytest.raises(NoiseModelError, match=r"^unknown noise component 'poison'; valid: "):
        parse_enum(NoiseComponent, "poison")


def test_no_two_members_of_a_set_read_the_same():
    """Ignoring case, '-' and '_' never makes two members of one set the same name."""
    import expodiff.kinds as kinds
    from expodiff.cfa import CFAPattern

    sets = [getattr(kinds, n) for n in kinds.__all__ if isinstance(getattr(kinds, n), type)]
    for kind in [*sets, CFAPattern]:
        keys = [kinds._key(m.value) for m in kind] + [kinds._key(m.name) for m in kind]
        for member in kind:
            assert kinds.parse_enum(kind, member.value) is member
            assert kinds.parse_enum(kind, member.name) is member
        assert len({kinds._key(m.value) for m in kind}) == len(kind), keys


@pytest.mark.parametrize("package", ["expodiff.noise", "expodiff.nets", "expodiff.diffusion"])
def test_packages_resolve_every_public_name(package):
    import importlib

    module = importlib.import_module(package)
    for name in module.__all__:
        assert getattr(module, name) is not None, name
    with pytest.raises(
        AttributeError, match=f"^module '{package}' has no attribute 'no_such_name'$"
    ):
        module.no_such_name  # noqa: B018
