"""Camera names as raw files write them, normalised to match noise profiles.

:func:`camera_key` normalises a file's Make and Model (``("NIKON CORPORATION", "NIKON D850")``
-> ``"nikon d850"``); :data:`CAMERA_ALIASES` maps keys to the packaged profiles
(:func:`match_profile`); :func:`darktable_key` is the key darktable's noise profiles are
matched by (:mod:`expodiff.inference.gain._darktable`).
"""

from __future__ import annotations

import re

__all__ = ["CAMERA_ALIASES", "camera_key", "match_profile", "darktable_key"]

# Camera names as raw files write them ("make model", normalised by camera_key) -> packaged
# profile. Model names from the makers' EXIF (the Canon 700D also sells as Rebel T5i / Kiss X7i).
CAMERA_ALIASES: dict[str, str] = {
    "sony ilce-7sm2": "SonyA7S2",
    "nikon d850": "NikonD850",
    "canon eos 70d": "CanonEOS70D",
    "canon eos 700d": "CanonEOS700D",
    "canon eos rebel t5i": "CanonEOS700D",
    "canon eos kiss x7i": "CanonEOS700D",
    "canon eos 5d mark iv": "CanonEOS5D4",
}
# Words of a maker's legal name that cameras repeat in Make but not in Model.
_MAKER_NOISE = {"corporation", "corp", "corp.", "co.,", "co.", "ltd", "ltd.", "company", "inc."}


def camera_key(make: str | None, model: str | None) -> str | None:
    """A normalised ``"make model"`` (lower case, single spaces, maker named once).

    ``("NIKON CORPORATION", "NIKON D850")`` -> ``"nikon d850"``;
    ``("SONY", "ILCE-7SM2")`` -> ``"sony ilce-7sm2"``.
    """
    make_words = [w for w in (make or "").lower().split() if w not in _MAKER_NOISE]
    model_text = " ".join((model or "").lower().split())
    maker = " ".join(make_words)
    if maker and model_text.startswith(maker.split()[0]):
        key = model_text
    else:
        key = " ".join(p for p in (maker, model_text) if p)
    return re.sub(r"\s+", " ", key).strip() or None


def match_profile(make: str | None, model: str | None) -> str | None:
    """The packaged profile of a camera (by :data:`CAMERA_ALIASES`), or None."""
    key = camera_key(make, model)
    return None if key is None else CAMERA_ALIASES.get(key)


def darktable_key(make: str | None, model: str | None) -> str | None:
    """:func:`camera_key` with the maker cut to its first word: darktable names makers short
    (``Olympus``, ``Nikon``) where files spell them out (``OLYMPUS IMAGING CORP.``)."""
    words = (make or "").split()
    return camera_key(words[0] if words else None, model)
