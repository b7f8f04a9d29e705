"""The model registry: trained agents under the data directory, one folder each.

    <root>/<model_id>/model.zip        SB3's own archive (weights, optimizer, hyper-parameters)
    <root>/<model_id>/meta.json        what the model is (``ModelRecord``), written last
    <root>/<model_id>/curve.csv        the training curve (also in meta.json as a list)
    <root>/<model_id>/checkpoints/     step_<N>.zip while training

The default root is ``<XDG data dir>/onetap/models`` (``ONETAP_MODELS`` overrides it). Listing and
reading records needs the standard library alone, so the console can show the registry without
loading torch; ``save_model`` and ``load_model`` import the learning libraries when called.

A folder without a readable ``meta.json`` is a model still being trained or a broken one: the
listing shows it with its problem instead of hiding it or failing on it.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from stable_baselines3.common.base_class import BaseAlgorithm

META = "meta.json"
MODEL = "model.zip"
CURVE = "curve.csv"
SCHEMA = 1
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def models_root(environ: Mapping[str, str] | None = None) -> Path:
    """``ONETAP_MODELS`` when set, else ``models`` in the user's data directory (XDG on Linux)."""
    env = os.environ if environ is None else environ
    if env.get("ONETAP_MODELS"):
        return Path(env["ONETAP_MODELS"]).expanduser()
    import platformdirs

    return platformdirs.user_data_path("onetap") / "models"


@dataclass(frozen=True, slots=True)
class ModelRecord:
    """What a saved model is: enough to rebuild its environment and judge it."""

    model_id: str
    agent: str
    symbols: tuple[str, ...]
    data_start: str
    """First session of the data it saw (YYYY-MM-DD)."""
    data_end: str
    """Last session it saw, validation included: equal to or before ``train_end``."""
    train_end: str
    val_start: str
    """First session of the validation period (early stopping): training episodes end before it."""
    features: tuple[str, ...]
    env: dict[str, Any]
    """``EnvConfig`` as a mapping (window, actions, reward, costs...): ``env.env_config`` reads it."""
    config: dict[str, Any]
    """The agent's hyper-parameters as trained (the defaults with the overrides)."""
    config_hash: str
    code_version: str
    seed: int
    steps: int
    """Environment steps trained (early stopping may end before the steps asked for)."""
    created: str
    metrics: dict[str, float] = field(default_factory=dict)
    """Validation metrics of the saved (best) model."""
    curve: list[dict[str, float]] = field(default_factory=list)
    path: Path | None = None
    problem: str = ""
    """Why the record could not be read (then most fields are empty)."""

    @property
    def model_file(self) -> Path:
        if self.path is None:
            raise ValueError(f"model {self.model_id} has no folder")
        return self.path / MODEL

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("path")
        out.pop("problem")
        out["schema"] = SCHEMA
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any], path: Path | None = None) -> ModelRecord:
        try:
            return cls(
                model_id=str(data["model_id"]),
                agent=str(data["agent"]),
                symbols=tuple(data["symbols"]),
                data_start=str(data["data_start"]),
                data_end=str(data["data_end"]),
                train_end=str(data["train_end"]),
                val_start=str(data["val_start"]),
                features=tuple(data["features"]),
                env=dict(data["env"]),
                config=dict(data["config"]),
                config_hash=str(data["config_hash"]),
                code_version=str(data["code_version"]),
                seed=int(data["seed"]),
                steps=int(data["steps"]),
                created=str(data["created"]),
                metrics={str(k): float(v) for k, v in dict(data.get("metrics", {})).items()},
                curve=[dict(row) for row in data.get("curve", [])],
                path=path,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"meta.json is missing or has a bad field: {exc}") from None


def _broken(path: Path, problem: str) -> ModelRecord:
    return ModelRecord(
        path.name, "", (), "", "", "", "", (), {}, {}, "", "", 0, 0, "", path=path, problem=problem
    )


def read_record(folder: Path) -> ModelRecord:
    """The record in ``folder`` (a broken one says what is wrong in ``problem``)."""
    meta = folder / META
    if not meta.is_file():
        return _broken(folder, "no meta.json (still training, or the run was cut off)")
    try:
        data = json.loads(meta.read_text())
        if not isinstance(data, dict):
            raise ValueError("meta.json is not an object")
        record = ModelRecord.from_json(data, folder)
    except (OSError, ValueError) as exc:
        return _broken(folder, f"unreadable meta.json: {exc}")
    if not (folder / MODEL).is_file():
        return _broken(folder, "meta.json without model.zip")
    return record


def list_models(root: Path | None = None) -> list[ModelRecord]:
    """Every model folder under ``root`` (default ``models_root()``), newest first."""
    folder = models_root() if root is None else root
    if not folder.is_dir():
        return []
    records = [read_record(p) for p in folder.iterdir() if p.is_dir()]
    return sorted(records, key=lambda r: (r.created, r.model_id), reverse=True)


def find_model(name: str, root: Path | None = None) -> ModelRecord:
    """A model by id, by a unique prefix of its id, or by its folder's path."""
    as_path = Path(name).expanduser()
    if as_path.is_dir() and (as_path / META).exists():
        record = read_record(as_path)
    else:
        records = list_models(root)
        exact = [r for r in records if r.model_id == name]
        matches = exact or [r for r in records if r.model_id.startswith(name)]
        if not matches:
            where = models_root() if root is None else root
            raise LookupError(f"no model {name!r} under {where} (`onetap rl list` shows them)")
        if len(matches) > 1:
            raise LookupError(
                f"{name!r} names {len(matches)} models: {', '.join(r.model_id for r in matches)}"
            )
        record = matches[0]
    if record.problem:
        raise LookupError(f"model {record.model_id}: {record.problem}")
    return record


# -- identity -------------------------------------------------------------------------------------


def config_hash(config: Mapping[str, Any]) -> str:
    """12 hex digits of SHA-256 over the canonical JSON of what shapes a model (same hash: same run)."""
    text = json.dumps(config, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def code_version() -> str:
    """``git describe`` of the checkout this code runs from, else the installed package version."""
    here = Path(__file__).resolve().parents[2]
    try:
        out = subprocess.run(
            ["git", "-C", str(here), "describe", "--always", "--dirty", "--tags"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        )
        if out.stdout.strip():
            return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("onetap")
    except PackageNotFoundError:
        return "unknown"


def new_model_id(agent: str, symbols: Sequence[str], when: datetime) -> str:
    """``<agent>-<symbols>-<UTC time>``: readable in a list, unique per second and agent."""
    syms = "_".join(symbols)
    if len(syms) > 24:
        syms = f"{syms[:20]}+{len(symbols)}"
    return f"{agent}-{syms}-{when.astimezone(UTC):%Y%m%dT%H%M%S}"


def check_id(model_id: str) -> str:
    if not _ID.match(model_id):
        raise ValueError(f"model id {model_id!r}: letters, digits, '.', '_' and '-' only (1-128)")
    return model_id


# -- saving and loading ---------------------------------------------------------------------------


def write_meta(record: ModelRecord, folder: Path) -> None:
    """meta.json atomically (written last, so a folder with it is a complete model) and curve.csv."""
    folder.mkdir(parents=True, exist_ok=True)
    if record.curve:
        keys = sorted({k for row in record.curve for k in row})
        with (folder / CURVE).open("w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=keys)
            writer.writeheader()
            writer.writerows(record.curve)
    tmp = folder / (META + ".tmp")
    tmp.write_text(json.dumps(record.to_json(), indent=2, default=str))
    tmp.replace(folder / META)


def save_model(model: BaseAlgorithm, record: ModelRecord, root: Path | None = None) -> ModelRecord:
    """``model`` as ``<root>/<model_id>/model.zip`` with its meta.json; the record with its path."""
    folder = (models_root() if root is None else root) / check_id(record.model_id)
    folder.mkdir(parents=True, exist_ok=True)
    model.save(folder / MODEL)
    saved = ModelRecord.from_json(record.to_json(), folder)
    write_meta(saved, folder)
    return saved


def load_model(
    name: str | ModelRecord, root: Path | None = None, device: str = "cpu"
) -> tuple[BaseAlgorithm, ModelRecord]:
    """The SB3 model and its record, by id, id prefix, path or record (CPU unless asked)."""
    record = name if isinstance(name, ModelRecord) else find_model(name, root)
    from engine.rl.agents import AGENTS

    if record.agent not in AGENTS:
        raise LookupError(
            f"model {record.model_id}: unknown agent {record.agent!r} (known: {', '.join(AGENTS)})"
        )
    model = AGENTS[record.agent].cls.load(record.model_file, device=device)
    return model, record
