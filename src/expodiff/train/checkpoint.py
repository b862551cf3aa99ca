"""Training checkpoints: weights, optimiser, RNG states and the resolved config, atomically.

Layout of one checkpoint (a folder under ``<output_dir>/checkpoints/``)::

    step_00000500/
        model.safetensors      the denoiser's weights (loadable by expodiff.build.load_denoiser)
        config.yaml            the resolved experiment config
        trainer.safetensors    Adam moments and step counters, per-rank generator states,
                               the moving average of the weights (train.ema_decay)
        trainer.json           step, parameter groups, Python/NumPy RNG states, world size

Nothing is unpickled on load: tensors live in safetensors files and everything else in JSON.
A checkpoint is written into a hidden temporary folder and renamed into place, then the
``checkpoints/latest`` pointer file is replaced atomically, so an interrupted write never
leaves a half checkpoint behind (``--resume`` reads ``latest``, or the highest complete step).
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from ..errors import ModelError

__all__ = [
    "TrainerState",
    "CHECKPOINT_DIR",
    "save_checkpoint",
    "load_checkpoint",
    "find_latest_checkpoint",
    "capture_rng",
    "restore_rng",
    "optimizer_to_flat",
    "optimizer_from_flat",
]

CHECKPOINT_DIR = "checkpoints"
MODEL_FILE = "model.safetensors"
CONFIG_FILE = "config.yaml"
TRAINER_TENSORS = "trainer.safetensors"
TRAINER_JSON = "trainer.json"
LATEST = "latest"
_STEP_RE = re.compile(r"^step_(\d+)$")
FORMAT = "expodiff-checkpoint/1"


@dataclass
class TrainerState:
    """Everything besides the weights that ``--resume`` needs to continue exactly."""

    step: int
    optimizer_tensors: dict[str, torch.Tensor] = field(default_factory=dict)
    optimizer_meta: dict[str, Any] = field(default_factory=dict)
    # One entry per rank: {"torch": ByteTensor, "generator": ByteTensor, "cuda": [...],
    # "python": state, "numpy": state}.
    rng: list[dict[str, Any]] = field(default_factory=list)
    world_size: int = 1
    extra: dict[str, Any] = field(default_factory=dict)
    # The moving average of the weights (train.ema_decay), by parameter name; empty: none.
    ema_tensors: dict[str, torch.Tensor] = field(default_factory=dict)


# --------------------------------------------------------------------------- RNG
def capture_rng(generator: torch.Generator | None = None) -> dict[str, Any]:
    """This process's random states: torch (CPU, CUDA), a trainer generator, Python, NumPy."""
    np_state = np.random.get_state()
    py_state = random.getstate()
    out: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "python": [py_state[0], list(py_state[1]), py_state[2]],
        "numpy": [
            np_state[0],
            np_state[1].tolist(),
            int(np_state[2]),
            int(np_state[3]),
            float(np_state[4]),
        ],
    }
    if generator is not None:
        out["generator"] = generator.get_state()
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        out["cuda"] = torch.cuda.get_rng_state_all()
    return out


def restore_rng(state: dict[str, Any], generator: torch.Generator | None = None) -> None:
    """Inverse of :func:`capture_rng`."""
    torch.set_rng_state(state["torch"])
    v, internal, gauss = state["python"]
    random.setstate((v, tuple(internal), gauss))
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
    if generator is not None and "generator" in state:
        generator.set_state(state["generator"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


# --------------------------------------------------------------------------- optimiser
def optimizer_to_flat(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    """An optimiser state as flat tensors (``state.<param>.<key>``) plus JSON metadata."""
    sd = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for pid, pstate in sd["state"].items():
        for key, value in pstate.items():
            if isinstance(value, torch.Tensor):
                tensors[f"state.{pid}.{key}"] = value.detach().to("cpu", copy=True).contiguous()
            else:
                scalars.setdefault(str(pid), {})[key] = value
    groups = []
    for g in sd["param_groups"]:
        groups.append({k: (list(v) if isinstance(v, tuple) else v) for k, v in g.items()})
    meta = {"param_groups": groups, "scalars": scalars, "class": type(optimizer).__name__}
    return tensors, meta


def optimizer_from_flat(
    optimizer: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], meta: dict
) -> None:
    """Load what :func:`optimizer_to_flat` produced into ``optimizer`` (strict)."""
    if meta.get("class") != type(optimizer).__name__:
        raise ModelError(
            f"checkpoint optimiser is {meta.get('class')}, this run uses {type(optimizer).__name__}"
        )
    state: dict[int, dict[str, Any]] = {}
    for name, value in tensors.items():
        _, pid, key = name.split(".", 2)
        state.setdefault(int(pid), {})[key] = value
    for pid, values in meta.get("scalars", {}).items():
        state.setdefault(int(pid), {}).update(values)
    groups = []
    for g in meta["param_groups"]:
        g = dict(g)
        if "betas" in g:
            g["betas"] = tuple(g["betas"])
        groups.append(g)
    try:
        optimizer.load_state_dict({"state": state, "param_groups": groups})
    except (ValueError, KeyError) as exc:
        raise ModelError(f"checkpoint optimiser state does not fit this model: {exc}") from None


# --------------------------------------------------------------------------- files
def _rng_to_files(rng: list[dict[str, Any]]) -> tuple[dict[str, torch.Tensor], list[dict]]:
    tensors: dict[str, torch.Tensor] = {}
    meta: list[dict] = []
    for rank, st in enumerate(rng):
        tensors[f"rng.{rank}.torch"] = st["torch"]
        if "generator" in st:
            tensors[f"rng.{rank}.generator"] = st["generator"]
        for i, c in enumerate(st.get("cuda", [])):
            tensors[f"rng.{rank}.cuda.{i}"] = c
        meta.append({"python": st["python"], "numpy": st["numpy"], "cuda": len(st.get("cuda", []))})
    return tensors, meta


def _rng_from_files(tensors: dict[str, torch.Tensor], meta: list[dict]) -> list[dict[str, Any]]:
    out = []
    for rank, m in enumerate(meta):
        st: dict[str, Any] = {
            "torch": tensors[f"rng.{rank}.torch"],
            "python": m["python"],
            "numpy": m["numpy"],
        }
        if f"rng.{rank}.generator" in tensors:
            st["generator"] = tensors[f"rng.{rank}.generator"]
        if m.get("cuda"):
            st["cuda"] = [tensors[f"rng.{rank}.cuda.{i}"] for i in range(m["cuda"])]
        out.append(st)
    return out


def step_dir_name(step: int) -> str:
    return f"step_{step:08d}"


def save_checkpoint(
    output_dir: str | Path,
    *,
    model_state: dict[str, torch.Tensor],
    config_yaml: str,
    state: TrainerState,
    keep: int = 2,
    name: str | None = None,
) -> Path:
    """Write a checkpoint folder atomically and point ``checkpoints/latest`` at it.

    Args:
        output_dir: the run folder; the checkpoint goes to ``output_dir/checkpoints/``.
        model_state: the denoiser's ``state_dict()``.
        config_yaml: the resolved config (``dump_config``).
        state: optimiser, RNG states and step.
        keep: how many ``step_*`` folders to keep (at least the one just written).
        name: folder name (default ``step_<step, 8 digits>``).

    Returns:
        The checkpoint folder.
    """
    root = Path(output_dir) / CHECKPOINT_DIR
    root.mkdir(parents=True, exist_ok=True)
    final = root / (name or step_dir_name(state.step))
    tmp = root / f".tmp-{final.name}-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    try:
        weights = {k: v.detach().to("cpu").contiguous() for k, v in model_state.items()}
        save_file(weights, str(tmp / MODEL_FILE), metadata={"format": "expodiff-denoiser/1"})
        (tmp / CONFIG_FILE).write_text(config_yaml)
        rng_tensors, rng_meta = _rng_to_files(state.rng)
        tensors = {f"optim.{k}": v for k, v in state.optimizer_tensors.items()}
        tensors.update({f"ema.{k}": v.to("cpu").contiguous() for k, v in state.ema_tensors.items()})
        tensors.update(rng_tensors)
        save_file(tensors, str(tmp / TRAINER_TENSORS), metadata={"format": FORMAT})
        meta = {
            "format": FORMAT,
            "step": state.step,
            "world_size": state.world_size,
            "optimizer": state.optimizer_meta,
            "rng": rng_meta,
            "extra": state.extra,
        }
        (tmp / TRAINER_JSON).write_text(json.dumps(meta, indent=1))
        for f in tmp.iterdir():  # data on disk before the rename makes it visible
            with open(f, "rb") as fh:
                os.fsync(fh.fileno())
        if final.exists():
            trash = root / f".old-{final.name}-{os.getpid()}"
            os.replace(final, trash)
            os.replace(tmp, final)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    pointer_tmp = root / f".{LATEST}.{os.getpid()}.tmp"
    pointer_tmp.write_text(final.name + "\n")
    os.replace(pointer_tmp, root / LATEST)
    _prune(root, keep=max(1, keep), protect=final.name)
    return final


def _prune(root: Path, *, keep: int, protect: str) -> None:
    steps = sorted(
        (int(m.group(1)), p) for p in root.iterdir() if (m := _STEP_RE.match(p.name)) and p.is_dir()
    )
    for _, p in steps[:-keep]:
        if p.name != protect:
            shutil.rmtree(p, ignore_errors=True)


def find_latest_checkpoint(output_dir: str | Path) -> Path | None:
    """The checkpoint ``latest`` points at, else the highest complete ``step_*``, else None."""
    root = Path(output_dir) / CHECKPOINT_DIR
    if not root.is_dir():
        return None
    pointer = root / LATEST
    if pointer.is_file():
        cand = root / pointer.read_text().strip()
        if (cand / TRAINER_JSON).is_file():
            return cand
    steps = sorted(
        (int(m.group(1)), p)
        for p in root.iterdir()
        if (m := _STEP_RE.match(p.name)) and (p / TRAINER_JSON).is_file()
    )
    return steps[-1][1] if steps else None


def load_checkpoint(path: str | Path) -> tuple[dict[str, torch.Tensor], str, TrainerState]:
    """Read a checkpoint folder written by :func:`save_checkpoint`.

    Args:
        path: the checkpoint folder.

    Returns:
        ``(model_state, config_yaml, TrainerState)``.

    Raises:
        ModelError: a missing, truncated or corrupt part (names the file).
    """
    path = Path(path)
    for part in (MODEL_FILE, CONFIG_FILE, TRAINER_TENSORS, TRAINER_JSON):
        if not (path / part).is_file():
            raise ModelError(f"{path}: not a complete checkpoint (missing {part})")
    try:
        weights = load_file(str(path / MODEL_FILE))
        tensors = load_file(str(path / TRAINER_TENSORS))
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelError(f"{path}: corrupt checkpoint tensors ({exc})") from None
    try:
        meta = json.loads((path / TRAINER_JSON).read_text())
    except (OSError, ValueError) as exc:
        raise ModelError(f"{path / TRAINER_JSON}: corrupt ({exc})") from None
    if meta.get("format") != FORMAT:
        raise ModelError(f"{path / TRAINER_JSON}: unknown checkpoint format {meta.get('format')!r}")
    optim = {k[len("optim.") :]: v for k, v in tensors.items() if k.startswith("optim.")}
    ema = {k[len("ema.") :]: v for k, v in tensors.items() if k.startswith("ema.")}
    try:
        rng = _rng_from_files(tensors, meta["rng"])
    except KeyError as exc:
        raise ModelError(f"{path}: checkpoint RNG state incomplete (missing {exc})") from None
    state = TrainerState(
        step=int(meta["step"]),
        optimizer_tensors=optim,
        optimizer_meta=meta["optimizer"],
        rng=rng,
        world_size=int(meta.get("world_size", 1)),
        extra=meta.get("extra", {}),
        ema_tensors=ema,
    )
    return weights, (path / CONFIG_FILE).read_text(), state
