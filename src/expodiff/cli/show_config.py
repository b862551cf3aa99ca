"""``expodiff show-config``: print a resolved experiment config."""

from __future__ import annotations

import argparse

from ..config import dump_config, load_config


def add_config_arguments(parser: argparse.ArgumentParser, required: bool = False) -> None:
    """``--config FILE`` and repeated ``--set key.sub=value`` (shared by train/evaluate)."""
    parser.add_argument(
        "--config", metavar="FILE", required=required, help="experiment YAML (configs/*.yaml)"
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config value, e.g. --set train.lr=2e-4 (repeatable)",
    )


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "show-config",
        help="print the resolved experiment config",
        description="Load a YAML config, apply --set overrides and print the result as YAML.",
    )
    add_config_arguments(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    cfg = load_config(args.config, args.overrides)
    print(dump_config(cfg), end="")
    return 0
