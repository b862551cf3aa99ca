"""Reading camera raw files into :class:`RawFrame` (with :mod:`expodiff.io.metadata`, the only
module that imports rawpy and exifread).

:func:`read_raw` decodes any LibRaw-readable Bayer or X-Trans file; with ``cfa=`` it instead
reads a single-channel PNG/TIFF/PGM holding a mosaic (e.g. the Nokia N900 crop of Halide).
:class:`RawFrame` and :func:`frame_from_mosaic` (a frame from arrays) live in
:mod:`expodiff.io.frame` and are re-exported here.

Where each field comes from (LibRaw through rawpy unless said otherwise):

* ``mosaic``: ``raw_image_visible`` (margins removed), cropped to whole CFA periods; for
  X-Trans first shifted onto the canonical phase of :data:`expodiff.raw.XTRANS_CANONICAL`.
* ``sensor.cfa``: the colour letters (``color_desc``) at the photosites of the top-left
  period (``raw_color``), so the per-channel LibRaw indices map onto planes R, Gr, B, Gb.
* ``sensor.black_level``: ``black_level_per_channel``, by plane.
* ``sensor.white_level``: a DNG's WhiteLevel tag (``white_level``); for other files the
  smallest of ``camera_white_level_per_channel`` when the file has it, else ``white_level``.
  (LibRaw fills ``camera_white_level_per_channel`` of a DNG from its own table of the camera
  that Make/Model name, e.g. 15311 for a "NIKON D850" DNG whose WhiteLevel is 16383: the
  file's tag is what its writer meant.)
* ``white_balance``: ``camera_whitebalance`` (as shot); daylight WB when the camera's is
  missing (a -1 or 0 gain, as in the Canon D30); unity with a warning when neither exists.
  Green is scaled to 1.
* ``colour_matrix``: as LibRaw chooses: a DNG's own matrix (``color_matrix``) for DNG
  files, the camera table's ``rgb_xyz_matrix`` (through
  :func:`~expodiff.io.isp.colour_matrix_from_cam_xyz`) for others; the other one as a
  fallback; identity with a :class:`RawMetadataWarning` when the file has neither.
* ``make``, ``model``, ``iso``, ``exposure_time``: EXIF via exifread (exact rationals,
  :func:`~expodiff.io.metadata.read_exif`); otherwise LibRaw (make/model from its
  ``libraw_iparams_t``, ISO and shutter from ``other``). LibRaw's shutter is a float
  decoded from an APEX value (the Canon D30's 5 s reads 4.967 s);
  :func:`rationalise_exposure_time` turns it into a fraction. An ExposureTime tag that is
  not a positive time (1/0, 0, negative) makes the time unknown, with a
  :class:`RawMetadataWarning` (LibRaw would read 1/0 as 1 s). ISO 65535 in the 16-bit tag
  means "65535 or more": the 32-bit ISOSpeed / RecommendedExposureIndex tags then hold it.
* ``orientation``: TIFF/EXIF orientation (1-8) from LibRaw's ``sizes.flip``.

A file cut off before the end of its image data is refused: TIFF-based files by the extent
of their strips and tiles (:mod:`expodiff.io.completeness`), the others by LibRaw's errors
and its "Unexpected end of file" messages.

LibRaw prints decoder messages ("Unexpected end of file") straight to the process's stderr;
:func:`read_raw` captures them (by redirecting file descriptor 2 for the duration of the
decode) and puts them into its :class:`~expodiff.errors.InputFileError` instead.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from ..errors import InputFileError
from ..kinds import parse_enum
from ..raw import XTRANS_CANONICAL, CFAPattern, cfa_period
from ..sensor import SensorSpec
from .completeness import LIBRAW_TRUNCATION_MESSAGES, check_raw_data_complete
from .frame import RawFrame, format_exposure_time, frame_from_mosaic, rationalise_exposure_time
from .inputs import (
    MOSAIC_IMAGE_EXTENSIONS,
    ForeignFormat,
    captured_stderr,
    check_input_path,
    describe_content,
    read_image_mosaic,
)
from .isp import colour_matrix_from_cam_xyz
from .metadata import libraw_make_model, read_exif

__all__ = [
    "RawFrame",
    "RawMetadataWarning",
    "read_raw",
    "frame_from_mosaic",
    "rationalise_exposure_time",
    "format_exposure_time",
    "MOSAIC_IMAGE_EXTENSIONS",
]

log = logging.getLogger(__name__)

# LibRaw ``sizes.flip`` -> TIFF/EXIF Orientation.
_FLIP_TO_ORIENTATION = {0: 1, 3: 3, 5: 8, 6: 6}


class RawMetadataWarning(UserWarning):
    """A raw file lacks some metadata and a documented fallback is used."""


def _libraw_problem(path: Path, exc: Exception, messages: list[str]) -> InputFileError:
    import rawpy

    # LibRaw's messages start with the file name; keep what it says about it.
    detail = "; ".join(m.split(": ", 1)[-1] for m in messages)
    if isinstance(exc, rawpy.LibRawFileUnsupportedError):
        what = describe_content(path)
        if what is not None:
            problem = f"{what.value}, not a camera raw file"
            if what is ForeignFormat.PNG:
                problem += " (a mosaic stored as an image needs its CFA pattern: --cfa)"
        else:
            problem = "not a camera raw file LibRaw can read (unsupported, truncated or corrupt)"
    elif isinstance(exc, rawpy.LibRawIOError):
        problem = "cannot decode the raw data: the file is truncated or corrupt"
    elif isinstance(exc, rawpy.LibRawDataError):
        problem = "corrupt raw data"
    else:
        problem = f"LibRaw failed: {exc}"
    if detail:
        problem += f" ({detail})"
    return InputFileError(f"{path}: {problem}")


def _positive_gains(values: Sequence[float]) -> bool:
    return len(values) >= 3 and all(np.isfinite(v) and v > 0 for v in values[:3])


# ------------------------------------------------------------------------- LibRaw path
def _cfa_from_libraw(raw, path: Path) -> tuple[CFAPattern, int, int, list[int]]:
    """CFA, crop offset (dy, dx) onto the canonical phase, and the LibRaw colour index of
    each plane R, Gr, B, Gb (X-Trans: the G index for both greens)."""
    desc = raw.color_desc.decode("ascii", "replace")
    pattern = raw.raw_pattern
    if pattern is None:
        raise InputFileError(f"{path}: a monochrome sensor, not a colour-filter-array sensor")
    period = int(np.asarray(pattern).shape[0])
    if period not in (2, 6) or set(desc[:3]) != {"R", "G", "B"}:
        raise InputFileError(
            f"{path}: unsupported colour filter array ({desc}, {period}x{period} period); "
            "expodiff reads RGB Bayer and X-Trans sensors"
        )
    top, left = raw.sizes.top_margin, raw.sizes.left_margin
    visible_h, visible_w = raw.sizes.height, raw.sizes.width
    span = min(2 * period, visible_h), min(2 * period, visible_w)
    index = np.array(
        [[raw.raw_color(top + y, left + x) for x in range(span[1])] for y in range(span[0])]
    )
    letters = np.vectorize(lambda i: desc[i] if 0 <= i < len(desc) else "?")(index)
    if not set(np.unique(letters)) <= {"R", "G", "B"}:
        raise InputFileError(f"{path}: unsupported colour filter array colours {desc}")
    colour_of = {"R": 0, "G": 1, "B": 2}
    colours = np.vectorize(colour_of.__getitem__)(letters)
    if period == 2:
        try:
            cfa = CFAPattern("".join(letters[:2, :2].ravel()))
        except ValueError:
            raise InputFileError(
                f"{path}: unsupported Bayer layout {''.join(letters[:2, :2].ravel())}"
            ) from None
        plane_index = [0, 0, 0, 0]
        for y, row in enumerate(cfa.plane_map()):
            for x, plane in enumerate(row):
                plane_index[plane] = int(index[y, x])
        return cfa, 0, 0, plane_index
    canonical = np.array(XTRANS_CANONICAL)
    for dy in range(6):
        for dx in range(6):
            if np.array_equal(colours[dy : dy + 6, dx : dx + 6], canonical):
                first = {c: int(index[dy:, dx:][colours[dy:, dx:] == c][0]) for c in range(3)}
                return CFAPattern.XTRANS, dy, dx, [first[0], first[1], first[2], first[1]]
    raise InputFileError(f"{path}: a 6x6 colour filter array that is not X-Trans")


def _colour_matrix_from_libraw(raw, path: Path, *, is_dng: bool) -> np.ndarray:
    """LibRaw's own choice: a DNG's matrix (``color_matrix``) for DNG files, the camera
    table's ``rgb_xyz_matrix`` otherwise; the other one as a fallback; else identity."""

    def from_cam_xyz() -> np.ndarray:
        return colour_matrix_from_cam_xyz(np.asarray(raw.rgb_xyz_matrix, np.float64)[:3, :3])

    def from_file() -> np.ndarray:
        return np.asarray(raw.color_matrix, dtype=np.float64)[:3, :3]

    sources = (from_file, from_cam_xyz) if is_dng else (from_cam_xyz, from_file)
    for build in sources:
        try:
            matrix = build()
        except ValueError:  # an all-zero (missing) or singular matrix
            continue
        if np.any(matrix != 0) and np.all(np.isfinite(matrix)):
            return matrix
    warnings.warn(
        f"{path}: the file has no colour matrix; colours use the identity (camera RGB as sRGB)",
        RawMetadataWarning,
        stacklevel=4,
    )
    return np.eye(3)


def _white_balance_from_libraw(raw, plane_index: list[int], path: Path) -> tuple[float, ...]:
    def by_plane(gains: Sequence[float]) -> tuple[float, ...]:
        gains = list(gains) + [0.0] * (4 - len(gains))
        if not gains[3] > 0:  # LibRaw leaves the second green 0 when it equals the first
            gains[3] = gains[1]
        wb = [float(gains[i]) for i in plane_index]
        return tuple(g / wb[1] for g in wb)

    if _positive_gains(raw.camera_whitebalance):
        return by_plane(raw.camera_whitebalance)
    if _positive_gains(raw.daylight_whitebalance):
        log.info("%s: no as-shot white balance; using LibRaw's daylight balance", path)
        return by_plane(raw.daylight_whitebalance)
    warnings.warn(
        f"{path}: the file has no white balance; using unity gains",
        RawMetadataWarning,
        stacklevel=3,
    )
    return (1.0, 1.0, 1.0, 1.0)


def _frame_from_libraw(raw, path: Path, *, is_dng: bool = False) -> RawFrame:
    """Build a frame from an open ``rawpy.RawPy`` (or an object with the same attributes)."""
    import rawpy

    if raw.raw_type != rawpy.RawType.Flat:
        raise InputFileError(
            f"{path}: not a colour-filter-array sensor (LibRaw decodes it as "
            f"{raw.num_colors} colours per pixel, e.g. a scanner or a Foveon sensor)"
        )
    cfa, dy, dx, plane_index = _cfa_from_libraw(raw, path)
    period = cfa_period(cfa)
    visible = raw.raw_image_visible[dy:, dx:]
    h, w = (visible.shape[0] // period) * period, (visible.shape[1] // period) * period
    if h == 0 or w == 0:
        raise InputFileError(f"{path}: image too small ({visible.shape[1]}x{visible.shape[0]})")
    # Copy out of LibRaw's buffer (freed when the file closes); read-only, so RawFrame keeps it.
    mosaic = np.array(visible[:h, :w], dtype=np.uint16)
    mosaic.setflags(write=False)

    blacks = list(raw.black_level_per_channel)
    black = tuple(float(blacks[i]) for i in plane_index)
    white = float(raw.white_level)
    camera_white = raw.camera_white_level_per_channel
    if camera_white is not None and not is_dng:
        camera_white = [float(camera_white[i]) for i in plane_index]
        if min(camera_white) > max(black):
            white = min(camera_white)
    if not white > max(black):
        raise InputFileError(f"{path}: white level {white} is not above black {black}")
    sensor = SensorSpec(black, white, cfa)

    other = raw.other
    iso = float(other.iso_speed) if other.iso_speed and other.iso_speed > 0 else None
    return RawFrame(
        mosaic=mosaic,
        sensor=sensor,
        white_balance=_white_balance_from_libraw(raw, plane_index, path),
        colour_matrix=_colour_matrix_from_libraw(raw, path, is_dng=is_dng),
        iso=iso,
        exposure_time=rationalise_exposure_time(float(other.shutter_speed)),
        path=path,
        orientation=_FLIP_TO_ORIENTATION.get(int(raw.sizes.flip), 1),
    )


def _open_libraw(path: Path):
    """``rawpy.imread`` of ``path``. rawpy hands LibRaw the name encoded as UTF-8, which a
    name that is not valid UTF-8 (bytes a Latin-1 system wrote) cannot be: such a file is
    read into memory by Python and decoded from there."""
    import rawpy

    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:
        with open(path, "rb") as file:
            return rawpy.imread(file)
    return rawpy.imread(str(path))


def _read_libraw(path: Path) -> RawFrame:
    import rawpy

    check_raw_data_complete(path)
    exif = read_exif(path)
    with captured_stderr() as messages:
        try:
            with _open_libraw(path) as raw:
                frame = _frame_from_libraw(raw, path, is_dng=exif.is_dng)
        except rawpy.LibRawError as exc:
            error = exc
        else:
            error = None
    if error is not None:
        raise _libraw_problem(path, error, messages) from error
    # LibRaw decodes some cut-off files without raising, printing what went wrong instead:
    # the frame then holds zeros or garbage, which must never pass as an image.
    cut = [m for m in messages if any(t in m.lower() for t in LIBRAW_TRUNCATION_MESSAGES)]
    if cut:
        detail = "; ".join(m.split(": ", 1)[-1] for m in cut)
        raise InputFileError(f"{path}: the raw data is truncated or corrupt ({detail})")
    for message in messages:
        log.info("LibRaw: %s", message)
    make, model = exif.make, exif.model
    if make is None and model is None:
        make, model = libraw_make_model(path)
    exposure_time = frame.exposure_time if exif.exposure_time is None else exif.exposure_time
    if exif.bad_exposure_time is not None:
        # LibRaw reads such a tag as a number anyway (1/0 as 1 s): the time is unknown.
        exposure_time = None
        warnings.warn(
            f"{path}: the file's exposure time {exif.bad_exposure_time} is not a positive "
            "time; treated as unknown",
            RawMetadataWarning,
            stacklevel=3,
        )
    return replace(
        frame,
        make=make,
        model=model,
        iso=frame.iso if exif.iso is None else exif.iso,
        exposure_time=exposure_time,
    )


def read_raw(
    path: str | Path,
    *,
    cfa: CFAPattern | str | None = None,
    black_level: float | Sequence[float] | None = None,
    white_level: float | None = None,
) -> RawFrame:
    """Decode a raw file (or, with ``cfa``, a mosaic stored as a plain image).

    Args:
        path: a LibRaw-readable raw file (Bayer or X-Trans), or with ``cfa`` a
            single-channel PNG/TIFF/PGM mosaic.
        cfa: layout of a stored mosaic; passing it selects the plain-image reader.
        black_level: stored mosaic only: one value or four (R, Gr, B, Gb); default 0.
        white_level: stored mosaic only: default the largest value of the image's bit depth.

    Returns:
        The :class:`RawFrame`.

    Raises:
        InputFileError: one line naming the file and the problem (missing, a directory,
            empty, truncated, corrupt, not raw, not a colour-filter-array sensor, ...).
    """
    path = Path(path)
    check_input_path(path)
    if cfa is None:
        if black_level is not None or white_level is not None:
            raise ValueError("black_level/white_level are for stored mosaics; pass cfa too")
        return _read_libraw(path)
    cfa = parse_enum(CFAPattern, cfa) if isinstance(cfa, str) else CFAPattern(cfa)
    mosaic, bits = read_image_mosaic(path)
    if white_level is None:
        white_level = float(2**bits - 1)
    if black_level is None:
        black_level = 0.0
    blacks = (
        (float(black_level),) * 4
        if np.isscalar(black_level)
        else tuple(float(b) for b in black_level)
    )
    try:
        sensor = SensorSpec(blacks, float(white_level), cfa)
    except ValueError as exc:
        raise InputFileError(f"{path}: {exc}") from None
    if mosaic.shape[0] < cfa_period(cfa) or mosaic.shape[1] < cfa_period(cfa):
        raise InputFileError(f"{path}: image too small for a {cfa.value} mosaic")
    if mosaic.max() > sensor.white_level:
        log.info("%s: values above the white level %s", path, sensor.white_level)
    return frame_from_mosaic(mosaic, sensor, path=path)
