"""The strict YAML loader of experiment configs.

* :func:`load_config` reads a YAML file, applies ``--set key.sub=value`` overrides and
  builds an :class:`~expodiff.config.schema.ExperimentConfig`. Unknown keys are errors listing
  the valid ones; an empty or binary file is an error too; every number must be finite and
  within its field's bound (:mod:`expodiff.config.bounds`), else the error names its key.
* :func:`config_to_dict` / :func:`dump_config` give the resolved config (saved next to every
  checkpoint and printed by ``expodiff show-config``).
"""

from __future__ import annotations

import copy
import dataclasses
import types
import typing
from collections.abc import Mapping, Sequence
from enum import Enum
from pathlib import Path
from typing import Any, TypeVar, Union

import yaml

from ..errors import ConfigError
from ..kinds import parse_enum
from .bounds import Bound, bound_of, check_number
from .schema import ExperimentConfig

__all__ = ["load_config", "config_from_dict", "config_to_dict", "dump_config", "apply_overrides"]

T = TypeVar("T")


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _coerce(value: Any, tp: Any, where: str) -> Any:
    """Convert a YAML value to the annotated type ``tp`` or raise ConfigError."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, where)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if errors else f"{where}: invalid value {value!r}")
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: expected a mapping for {tp.__name__}, got {value!r}")
        return _build(tp, value, where)
    if isinstance(tp, type) and issubclass(tp, Enum):
        try:
            return parse_enum(tp, value)
        except ValueError:
            valid = ", ".join(str(m.value) for m in tp)
            raise ConfigError(f"{where}: invalid value {value!r}; valid: {valid}") from None
    if origin is tuple:
        if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
            value = [value]
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(v, args[0], f"{where}[{i}]") for i, v in enumerate(value))
        if len(value) != len(args):
            raise ConfigError(f"{where}: expected {len(args)} values, got {list(value)!r}")
        return tuple(
            _coerce(v, a, f"{where}[{i}]") for i, (v, a) in enumerate(zip(value, args, strict=True))
        )
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{where}: expected true/false, got {value!r}")
    if tp is int:
        whole = isinstance(value, int) or (isinstance(value, float) and value.is_integer())
        if isinstance(value, bool) or not whole:
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return int(value)
    if tp is float:
        if isinstance(value, bool):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: expected a number, got {value!r}") from None
    if tp is str:
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value)
        raise ConfigError(f"{where}: expected a string, got {value!r}")
    if tp is Path:
        return Path(str(value))
    raise ConfigError(f"{where}: unsupported config type {_type_name(tp)}")


def _build(cls: type[T], data: Mapping[str, Any], where: str = "") -> T:
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = [k for k in data if k not in names]
    if unknown:
        prefix = f"{where}." if where else ""
        raise ConfigError(
            f"unknown config key {prefix}{unknown[0]}; valid keys"
            f"{' of ' + where if where else ''}: {', '.join(names)}"
        )
    kwargs = {}
    for name in names:
        if name in data:
            key = f"{where}.{name}" if where else name
            kwargs[name] = _coerce(data[name], hints[name], key)
            _check_numbers(kwargs[name], bound_of(cls, name), key)
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where or cls.__name__}: {exc}") from None


def _check_numbers(value: Any, bound: Bound | None, key: str) -> None:
    """Every number of a coerced field value (each number of a tuple, nested or not) is
    finite and within its bound (:mod:`expodiff.config.bounds`)."""
    if isinstance(value, tuple):
        for v in value:
            _check_numbers(v, bound, key)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        problem = check_number(value, bound)
        if problem is not None:
            raise ConfigError(f"{key} {problem}")


def config_from_dict(data: Mapping[str, Any], cls: type[T] = ExperimentConfig) -> T:
    """Build a config dataclass from a plain mapping, strictly."""
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"config must be a mapping at the top level, got {type(data).__name__}")
    return _build(cls, data)


def config_to_dict(obj: Any) -> Any:
    """A plain (YAML/JSON-ready) representation of a config dataclass."""
    if dataclasses.is_dataclass(obj):
        return {f.name: config_to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, Enum):
        return obj.value
    if isinstance(obj, (tuple, list)):
        return [config_to_dict(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    return obj


def dump_config(obj: Any) -> str:
    """YAML text of a config dataclass (round-trips through :func:`config_from_dict`)."""
    return yaml.safe_dump(config_to_dict(obj), sort_keys=False)


def apply_overrides(data: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """Apply ``key.sub=value`` overrides (values parsed as YAML) to a nested mapping copy."""
    out = copy.deepcopy(dict(data))
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r} is not of the form key.sub=value")
        key, raw_value = item.split("=", 1)
        key = key.strip()
        if not key:
            raise ConfigError(f"override {item!r} has an empty key")
        try:
            value = yaml.safe_load(raw_value) if raw_value.strip() else ""
        except yaml.YAMLError:
            value = raw_value
        node = out
        parts = key.split(".")
        for part in parts[:-1]:
            child = node.get(part)
            if child is None:
                child = {}
            elif not isinstance(child, dict):
                raise ConfigError(f"override {item!r}: {part} is not a section")
            node[part] = child = dict(child)
            node = child
        node[parts[-1]] = value
    return out


def load_config(
    path: str | Path | None, overrides: Sequence[str] = (), cls: type[T] = ExperimentConfig
) -> T:
    """Read a YAML config (or start from defaults when ``path`` is None) and apply overrides."""
    data: dict[str, Any] = {}
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"{p}: config file not found")
        try:
            loaded = yaml.safe_load(p.read_text(encoding="utf-8"))
        except UnicodeDecodeError:
            raise ConfigError(f"{p}: not a text file (a YAML config must be UTF-8 text)") from None
        except OSError as exc:
            raise ConfigError(f"{p}: cannot read the config ({exc.strerror})") from None
        except yaml.YAMLError as exc:
            line = getattr(getattr(exc, "problem_mark", None), "line", None)
            at = f" (line {line + 1})" if line is not None else ""
            raise ConfigError(f"{p}: not valid YAML{at}") from None
        if loaded is None:  # an empty file, or only comments: most likely a mistake
            raise ConfigError(
                f"{p}: the config is empty; give at least one section (an empty mapping {{}} "
                "means all defaults)"
            )
        if not isinstance(loaded, Mapping):
            raise ConfigError(f"{p}: the top level must be a mapping of sections")
        data = dict(loaded)
    data = apply_overrides(data, overrides)
    try:
        return config_from_dict(data, cls)
    except ConfigError as exc:
        where = f"{path}: " if path is not None else ""
        raise ConfigError(f"{where}{exc}") from None
