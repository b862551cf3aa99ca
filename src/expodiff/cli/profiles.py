"""``expodiff profiles``: list the packaged camera noise profiles."""

from __future__ import annotations

import argparse
import json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "profiles",
        help="list the packaged camera noise profiles",
        description=(
            "List the calibrated camera noise profiles that noise.cameras accepts by name "
            "(ELD calibrations): system gain at ISO 100 and 6400, Tukey-lambda shapes, fits. "
            "A profile written by `expodiff calibrate` is used by its path instead."
        ),
    )
    p.add_argument("--json", action="store_true", help="print a JSON list instead of a table")
    p.set_defaults(func=run)


def profile_table() -> list[dict]:
    """One dict per packaged profile: name, gain_min, gain_max, tukey_shapes (min, max),
    fits, full_scale_dn, black_level_error (bool), source."""
    from ..io.profiles import list_profiles, load_profile

    rows = []
    for name in list_profiles():
        p = load_profile(name)
        rows.append(
            {
                "name": p.name,
                "gain_min": p.gain_min,
                "gain_max": p.gain_max,
                "tukey_shape_range": [min(p.tukey_shapes), max(p.tukey_shapes)],
                "fits": p.fit_names,
                "full_scale_dn": p.full_scale_dn,
                "black_level_error": bool(p.black_level_error),
                "source": p.source,
            }
        )
    return rows


def run(args: argparse.Namespace) -> int:
    rows = profile_table()
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{'camera':<14} {'K@ISO100':>9} {'K@ISO6400':>10} {'lambda range':>15}  fits")
    for r in rows:
        lo, hi = r["tukey_shape_range"]
        extra = " (+ per-ISO black-level error)" if r["black_level_error"] else ""
        print(
            f"{r['name']:<14} {r['gain_min']:9.4f} {r['gain_max']:10.4f} "
            f"{lo:7.3f}..{hi:6.3f}  {', '.join(r['fits'])}{extra}"
        )
    return 0
