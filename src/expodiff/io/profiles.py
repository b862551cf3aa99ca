"""Camera noise profile files: readable JSON loaded into the frozen dataclasses of
:mod:`expodiff.noise.camera`.

A profile describes one sensor's noise as ELD (Wei et al., CVPR 2020, §3-4) calibrates it:

* the overall system gain K (DN per electron) at ISO 100 (``gain_min``) and ISO 6400
  (``gain_max``), linear in ISO in between;
* for each signal-independent noise scale (Gaussian read sigma_g, Tukey-lambda read sigma_TL,
  row sigma_r) a joint log-linear model ``log sigma ~ N(slope * log K + bias, sigma^2)``
  (:class:`LogLinear`);
* the Tukey-lambda shapes lambda estimated at several calibration points, and the per-channel
  colour bias (black-level error, DN) measured at the same points (entry ``i`` of both comes
  from the same frames);
* the DN scale these numbers live on (``full_scale_dn``, ``black_level``, ``white_level``).

The five ELD calibrations ship with the package (``expodiff/profiles/*.json``, converted
losslessly from the ELD release); ``expodiff calibrate`` writes the same format for a user's
camera. :func:`load_profile` loads a packaged one by name, :func:`load_profile_file` a file.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from ..defaults import ELD_BLACK_LEVEL_DN, ELD_FULL_SCALE_DN, ELD_WHITE_LEVEL_DN
from ..errors import InputFileError
from ..noise.camera import (
    CameraProfile,
    IsoCalibration,
    LogLinear,
    NoiseFits,
    ProfileError,
)

__all__ = [
    "PROFILE_FORMAT",
    "list_profiles",
    "load_profile",
    "load_profile_file",
    "profile_from_dict",
    "profile_to_dict",
    "profile_to_json",
]

PROFILE_FORMAT = "expodiff-camera-profile/1"


# ---------------------------------------------------------------- (de)serialisation
_TOP_KEYS = (
    "format",
    "name",
    "source",
    "make",
    "model",
    "full_scale_dn",
    "black_level",
    "white_level",
    "gain_min",
    "gain_max",
    "tukey_shapes",
    "colour_bias",
    "default_fit",
    "fits",
    "black_level_error",
    "calibration",
    "dark_shading",
)
_REQUIRED = ("name", "gain_min", "gain_max", "tukey_shapes", "colour_bias", "fits")
_FIT_KEYS = ("read_gaussian", "read_tukey", "row")
_LOGLIN_KEYS = ("slope", "bias", "sigma")
_CAL_KEYS = tuple(f for f in IsoCalibration.__dataclass_fields__)


def _strict(data: Any, keys: Sequence[str], where: str) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise ProfileError(f"{where}: expected a JSON object, got {type(data).__name__}")
    unknown = [k for k in data if k not in keys]
    if unknown:
        raise ProfileError(f"{where}: unknown key {unknown[0]!r}; valid keys: {', '.join(keys)}")
    return data


def _loglinear(data: Any, where: str) -> LogLinear:
    data = _strict(data, _LOGLIN_KEYS, where)
    missing = [k for k in _LOGLIN_KEYS if k not in data]
    if missing:
        raise ProfileError(f"{where}: missing key {missing[0]!r}")
    try:
        return LogLinear(**{k: float(data[k]) for k in _LOGLIN_KEYS})
    except (TypeError, ValueError) as exc:
        raise ProfileError(f"{where}: {exc}") from None


def _fits(data: Any, where: str) -> NoiseFits:
    data = _strict(data, _FIT_KEYS, where)
    missing = [k for k in _FIT_KEYS if k not in data]
    if missing:
        raise ProfileError(f"{where}: missing key {missing[0]!r}")
    return NoiseFits(*(_loglinear(data[k], f"{where}.{k}") for k in _FIT_KEYS))


def profile_from_dict(
    data: Mapping[str, Any], *, fit: str | None = None, path: Path | None = None
) -> CameraProfile:
    """Build a :class:`CameraProfile` from its JSON object, strictly (unknown keys are errors)."""
    where = str(path) if path is not None else "camera profile"
    data = _strict(data, _TOP_KEYS, where)
    missing = [k for k in _REQUIRED if k not in data]
    if missing:
        raise ProfileError(f"{where}: missing key {missing[0]!r}")
    fmt = data.get("format", PROFILE_FORMAT)
    if fmt != PROFILE_FORMAT:
        raise ProfileError(f"{where}: unsupported format {fmt!r}; expected {PROFILE_FORMAT!r}")
    fits_data = data["fits"]
    if not isinstance(fits_data, Mapping) or not fits_data:
        raise ProfileError(f"{where}: 'fits' must map fit names to models")
    all_fits = {str(n): _fits(f, f"{where}.fits.{n}") for n, f in fits_data.items()}
    default = str(data.get("default_fit", next(iter(all_fits))))
    if default not in all_fits:
        raise ProfileError(f"{where}: default_fit {default!r} is not one of {list(all_fits)}")
    try:
        calibration = tuple(
            IsoCalibration(
                **{
                    **_strict(c, _CAL_KEYS, f"{where}.calibration[{i}]"),
                    "colour_bias": tuple(float(v) for v in c["colour_bias"]),
                }
            )
            for i, c in enumerate(data.get("calibration", ()))
        )
        ble = data.get("black_level_error", {})
        if not isinstance(ble, Mapping):
            raise ProfileError(f"{where}: black_level_error must map ISO to DN")
        chosen = all_fits[default]
        profile = CameraProfile(
            name=str(data["name"]),
            gain_min=data["gain_min"],
            gain_max=data["gain_max"],
            tukey_shapes=tuple(data["tukey_shapes"]),
            read_gaussian=chosen.read_gaussian,
            read_tukey=chosen.read_tukey,
            row=chosen.row,
            colour_bias=tuple(tuple(r) for r in data["colour_bias"]),
            full_scale_dn=data.get("full_scale_dn", ELD_FULL_SCALE_DN),
            black_level=data.get("black_level", ELD_BLACK_LEVEL_DN),
            white_level=data.get("white_level", ELD_WHITE_LEVEL_DN),
            source=str(data.get("source", "")),
            fit=default,
            other_fits=tuple(sorted((n, f) for n, f in all_fits.items() if n != default)),
            black_level_error=tuple((float(k), float(v)) for k, v in ble.items()),
            calibration=calibration,
            make=data.get("make"),
            model=data.get("model"),
            dark_shading=data.get("dark_shading"),
            path=path,
        )
    except ProfileError:
        raise
    except (TypeError, ValueError, KeyError) as exc:
        raise ProfileError(f"{where}: invalid value: {exc}") from None
    return profile if fit is None else profile.with_fit(fit)


def _num(v: float) -> float | int:
    return int(v) if float(v).is_integer() and abs(v) < 2**53 else float(v)


def profile_to_dict(profile: CameraProfile) -> dict[str, Any]:
    """The JSON object of a profile (round-trips through :func:`profile_from_dict`)."""

    def loglin(m: LogLinear) -> dict[str, float]:
        return {"slope": m.slope, "bias": m.bias, "sigma": m.sigma}

    def fits(f: NoiseFits) -> dict[str, Any]:
        return {
            "read_gaussian": loglin(f.read_gaussian),
            "read_tukey": loglin(f.read_tukey),
            "row": loglin(f.row),
        }

    out: dict[str, Any] = {
        "format": PROFILE_FORMAT,
        "name": profile.name,
        "source": profile.source,
    }
    if profile.make is not None:
        out["make"] = profile.make
    if profile.model is not None:
        out["model"] = profile.model
    out.update(
        full_scale_dn=_num(profile.full_scale_dn),
        black_level=_num(profile.black_level),
        white_level=_num(profile.white_level),
        gain_min=profile.gain_min,
        gain_max=profile.gain_max,
        tukey_shapes=list(profile.tukey_shapes),
        colour_bias=[list(r) for r in profile.colour_bias],
        default_fit=profile.fit,
        fits={profile.fit: fits(profile.fits), **{n: fits(f) for n, f in profile.other_fits}},
    )
    if profile.black_level_error:
        out["black_level_error"] = {f"{_num(i)}": v for i, v in profile.black_level_error}
    if profile.calibration:
        out["calibration"] = [
            {
                "iso": _num(c.iso),
                "system_gain": c.system_gain,
                "read_sigma": c.read_sigma,
                "tukey_shape": c.tukey_shape,
                "tukey_scale": c.tukey_scale,
                "row_sigma": c.row_sigma,
                "colour_bias": list(c.colour_bias),
                "tukey_ppcc": c.tukey_ppcc,
                "dark_frames": c.dark_frames,
                "flat_pairs": c.flat_pairs,
            }
            for c in profile.calibration
        ]
    if profile.dark_shading is not None:
        out["dark_shading"] = profile.dark_shading
    return out


def _format_json(obj: Any, level: int = 0) -> str:
    """JSON with objects expanded one key per line and number lists kept on one line."""
    pad = "  " * (level + 1)
    if isinstance(obj, Mapping):
        if not obj:
            return "{}"
        items = [f"{pad}{json.dumps(str(k))}: {_format_json(v, level + 1)}" for k, v in obj.items()]
        return "{\n" + ",\n".join(items) + "\n" + "  " * level + "}"
    if isinstance(obj, (list, tuple)):
        if any(isinstance(v, (Mapping, list, tuple)) for v in obj):
            items = [pad + _format_json(v, level + 1) for v in obj]
            return "[\n" + ",\n".join(items) + "\n" + "  " * level + "]"
        return "[" + ", ".join(json.dumps(v) for v in obj) + "]"
    return json.dumps(obj)


def profile_to_json(profile: CameraProfile) -> str:
    """Readable JSON text of a profile (what ``expodiff calibrate`` writes); lossless."""
    return _format_json(profile_to_dict(profile)) + "\n"


# ------------------------------------------------------------------------- loading
def _profile_dir():
    return resources.files("expodiff") / "profiles"


def list_profiles() -> list[str]:
    """Names of the packaged camera profiles, sorted."""
    folder = _profile_dir()
    if not folder.is_dir():
        return []
    return sorted(p.name[: -len(".json")] for p in folder.iterdir() if p.name.endswith(".json"))


def load_profile(name: str, *, fit: str | None = None) -> CameraProfile:
    """A packaged camera profile by name (case-insensitive).

    Args:
        name: e.g. ``SonyA7S2`` (:func:`list_profiles` gives the valid names).
        fit: which calibration fit to make active (default: the file's ``default_fit``).

    Raises:
        ProfileError: unknown name (the message lists the valid ones) or unknown fit.
    """
    names = list_profiles()
    match = [n for n in names if n.lower() == str(name).strip().lower()]
    if not match:
        raise ProfileError(
            f"unknown camera profile {name!r}; valid: {', '.join(names) or '(none installed)'}"
        )
    text = (_profile_dir() / f"{match[0]}.json").read_text(encoding="utf-8")
    return profile_from_dict(json.loads(text), fit=fit)


def load_profile_file(path: str | Path, *, fit: str | None = None) -> CameraProfile:
    """A profile file such as ``expodiff calibrate`` writes.

    Raises:
        InputFileError: the file is missing, unreadable or not JSON.
        ProfileError: the JSON is not a valid profile (message names the file).
    """
    path = Path(path)
    if not path.exists():
        raise InputFileError(f"{path}: no such profile file")
    if path.is_dir():
        raise InputFileError(f"{path}: is a directory, expected a profile .json file")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputFileError(f"{path}: cannot read: {exc.strerror}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputFileError(f"{path}: not a JSON camera profile ({exc})") from None
    return profile_from_dict(data, fit=fit, path=path)
