"""darktable's measured noise profiles as a source of K for cameras without a calibration.

darktable ships ``noiseprofiles.json`` (GPL; about 374 camera models, each measured at its
ISO settings). expodiff never bundles or copies it: it reads the copy installed on the user's
system at run time (:func:`darktable_profiles_path`).

Each entry gives, per ISO and for R, G, B, darktable's noise model ``var = a * x + b`` on its
own normalised image ``x`` (0 at black, 1 at white, after darktable's demosaic). ``a`` is the
shot-noise slope: for an unprocessed raw it would be ``K / R`` (K in DN per electron of the
file, R = white - black of the file). darktable measures after its demosaic and its own
smoothing, so the green ``a`` is a fraction of that: ``a_green = F * K / R``. **F was measured
here** against ELD's calibrated K of the packaged cameras (full-stop ISOs 100-6400; R from the
white and black levels darktable itself uses, its rawspeed ``cameras.xml``):

==================  =========================  ==================================
camera              darktable entry            F = a_green * R / K (median, range)
==================  =========================  ==================================
Nikon D850          Nikon D850                 0.0808 (0.0787-0.0974)
Canon EOS 70D       Canon EOS 70D              0.1121 (0.0922-0.1545)
Canon EOS 700D      Canon EOS 700D             0.0578 (0.0488-0.1184)
Canon EOS 5D Mk IV  Canon EOS 5D Mark IV       0.0830 (0.0698-0.1438)
Sony A7S II         none (ILCE-7S, same 12 MP  0.0807 (0.0647-0.0828)
                    sensor family, for reference)
==================  =========================  ==================================

The four cameras darktable and ELD share give F = 0.0802 over ISO 200-6400 (median of the 24
values; 0.0835 with ISO 100, where read noise dominates darktable's fit):
:data:`DARKTABLE_SHOT_NOISE_FACTOR`. Per camera the median is within x0.72-x1.40 of it, so a
K from darktable is good to about 40 %, which makes it a *prior*: :mod:`expodiff.inference.gain`
prefers the image's own estimate when that agrees with it within
:data:`DARKTABLE_AGREEMENT`, and takes darktable's K when the image cannot be measured or
disagrees by more.

The K on the model's scale follows without the file's range (darktable's R and the file's are
the same white - black): ``K_model = a_green * full_scale_dn / F`` and
``K_file = a_green * R / F``. Between the ISOs of an entry ``a_green`` is interpolated
linearly in ISO; beyond them it is extrapolated in proportion to the ISO (K is proportional
to the analogue gain). Profiles marked ``"skip": true`` by darktable are left out.
"""

from __future__ import annotations

import functools
import json
import math
import os
from bisect import bisect_left
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ...errors import ExpodiffError
from ._cameras import darktable_key

__all__ = [
    "DARKTABLE_NOISEPROFILES_ENV",
    "DARKTABLE_DEFAULT_PATHS",
    "DARKTABLE_SHOT_NOISE_FACTOR",
    "DARKTABLE_AGREEMENT",
    "DarktableProfileError",
    "DarktableCamera",
    "darktable_profiles_path",
    "load_darktable_profiles",
    "find_darktable_camera",
    "match_darktable",
]

# Environment variable naming the noiseprofiles.json to read; empty or "none": do not use one.
DARKTABLE_NOISEPROFILES_ENV = "EXPODIFF_DARKTABLE_NOISEPROFILES"
# Where darktable installs it (Linux packages, a /usr/local build, flatpak, macOS app bundle).
DARKTABLE_DEFAULT_PATHS = (
    Path("/usr/share/darktable/noiseprofiles.json"),
    Path("/usr/local/share/darktable/noiseprofiles.json"),
    Path("/app/share/darktable/noiseprofiles.json"),
    Path("/Applications/darktable.app/Contents/Resources/share/darktable/noiseprofiles.json"),
)
# a_green = F * K / R (see the module docstring for the measurement).
DARKTABLE_SHOT_NOISE_FACTOR = 0.080
# The image's own K is kept when within this factor of darktable's.
DARKTABLE_AGREEMENT = 2.0


class DarktableProfileError(ExpodiffError):
    """darktable's noise profile file is missing (where configured) or malformed."""


@dataclass(frozen=True)
class DarktableCamera:
    """One camera of darktable's noise profiles.

    Attributes:
        maker, model: as darktable names them (``Canon``, ``EOS 70D``).
        isos: the measured ISOs, ascending.
        slopes: the green shot-noise slope ``a`` at each ISO (darktable's normalised units).
    """

    maker: str
    model: str
    isos: tuple[float, ...]
    slopes: tuple[float, ...]

    @property
    def name(self) -> str:
        return f"{self.maker} {self.model}"

    def slope_at(self, iso: float) -> float:
        """The green ``a`` at ``iso``: linear between measured ISOs, proportional to the ISO
        beyond them."""
        iso = float(iso)
        if not (iso > 0 and math.isfinite(iso)):
            raise ValueError(f"ISO must be a positive number, got {iso}")
        if iso <= self.isos[0]:
            return self.slopes[0] * iso / self.isos[0]
        if iso >= self.isos[-1]:
            return self.slopes[-1] * iso / self.isos[-1]
        i = bisect_left(self.isos, iso)
        lo, hi = self.isos[i - 1], self.isos[i]
        t = (iso - lo) / (hi - lo)
        return self.slopes[i - 1] + t * (self.slopes[i] - self.slopes[i - 1])

    def system_gain(self, iso: float, full_scale_dn: float) -> float:
        """K on a ``full_scale_dn`` scale at ``iso``: ``a * full_scale_dn / F``."""
        return self.slope_at(iso) * float(full_scale_dn) / DARKTABLE_SHOT_NOISE_FACTOR


def darktable_profiles_path() -> Path | None:
    """The noiseprofiles.json to use: ``$EXPODIFF_DARKTABLE_NOISEPROFILES`` when set (empty or
    ``none``: None), else the first of :data:`DARKTABLE_DEFAULT_PATHS` that exists, else None.

    Raises:
        DarktableProfileError: the environment variable names a file that does not exist.
    """
    configured = os.environ.get(DARKTABLE_NOISEPROFILES_ENV)
    if configured is not None:
        if configured.strip().lower() in ("", "none"):
            return None
        path = Path(configured).expanduser()
        if not path.is_file():
            raise DarktableProfileError(
                f"{path}: no such file ({DARKTABLE_NOISEPROFILES_ENV} names darktable's "
                "noiseprofiles.json; set it to an empty value to use none)"
            )
        return path
    return next((p for p in DARKTABLE_DEFAULT_PATHS if p.is_file()), None)


def _camera(maker: str, entry: object, where: str) -> DarktableCamera | None:
    if not isinstance(entry, dict) or not isinstance(entry.get("model"), str):
        raise ValueError(f"{where}: a model entry without a 'model' name")
    points: dict[float, float] = {}
    for profile in entry.get("profiles", []):
        if not isinstance(profile, dict) or profile.get("skip"):
            continue
        iso, a = profile.get("iso"), profile.get("a")
        if not isinstance(a, list) or len(a) != 3 or not isinstance(iso, (int, float)):
            raise ValueError(f"{where} {entry['model']}: a profile without 'iso' and 3 'a' values")
        slope = float(a[1])  # green
        if iso > 0 and slope > 0 and math.isfinite(slope):
            points[float(iso)] = slope
    if not points:
        return None
    isos = tuple(sorted(points))
    return DarktableCamera(maker, entry["model"], isos, tuple(points[i] for i in isos))


@functools.lru_cache(maxsize=4)
def _load(path: Path, mtime_ns: int) -> tuple[DarktableCamera, ...]:  # noqa: ARG001 (cache key)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        cameras = []
        for maker_entry in data["noiseprofiles"]:
            maker = maker_entry["maker"]
            for entry in maker_entry["models"]:
                camera = _camera(maker, entry, str(maker))
                if camera is not None:
                    cameras.append(camera)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DarktableProfileError(
            f"{path}: cannot read darktable's noise profiles: {exc}"
        ) from None
    except (KeyError, TypeError, ValueError) as exc:
        raise DarktableProfileError(
            f"{path}: not darktable's noiseprofiles.json format ({exc!s})"
        ) from None
    return tuple(cameras)


def load_darktable_profiles(path: str | Path) -> tuple[DarktableCamera, ...]:
    """The cameras of a darktable ``noiseprofiles.json`` (cached while the file is unchanged).

    Raises:
        DarktableProfileError: an unreadable or malformed file.
    """
    path = Path(path)
    try:
        mtime = path.stat().st_mtime_ns
    except OSError as exc:
        raise DarktableProfileError(
            f"{path}: cannot read darktable's noise profiles: {exc}"
        ) from None
    return _load(path, mtime)


def find_darktable_camera(
    cameras: tuple[DarktableCamera, ...],
    make: str | None,
    model: str | None,
    key: Callable[[str | None, str | None], str | None],
) -> DarktableCamera | None:
    """The entry of the camera ``make``/``model`` (as a raw file names it), matched through the
    normalising ``key`` (:func:`expodiff.inference.gain.camera_key`) on both sides."""
    wanted = key(make, model)
    if wanted is None:
        return None
    return next((c for c in cameras if key(c.maker, c.model) == wanted), None)


def match_darktable(
    make: str | None, model: str | None
) -> tuple[DarktableCamera | None, str | None]:
    """darktable's noise profile of a camera, from the installed ``noiseprofiles.json``.

    Returns:
        ``(camera or None, note)``: ``note`` is a warning when the file found at a default
        place is unreadable (then it is ignored).

    Raises:
        DarktableProfileError: the file that ``EXPODIFF_DARKTABLE_NOISEPROFILES`` names is
            missing or malformed.
    """
    path = darktable_profiles_path()
    if path is None:
        return None, None
    try:
        cameras = load_darktable_profiles(path)
    except DarktableProfileError as exc:
        if os.environ.get(DARKTABLE_NOISEPROFILES_ENV):
            raise
        return None, f"{exc}; not used"
    return find_darktable_camera(cameras, make, model, darktable_key), None
