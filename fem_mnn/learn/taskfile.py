"""Task files: a researcher's own task on their own lattice, as a documented JSON file.

A task file (format ``fem_mnn.task/1``) names the input nodes and their force
directions, the output nodes and components, the loss, the data (inline, a CSV table
beside the file, or a seeded linear generator), the train/test split, the input
scaling, a success criterion and, optionally, training settings. The paper's tasks
ship as task files (``fem_mnn/data/tasks/*.json``) and are read by the same reader
(:func:`paper_task`); they give the same numbers, bit for bit, as the functions of
:mod:`fem_mnn.learn.tasks`.

Schema (every key but those marked optional is required)::

    {
      "format": "fem_mnn.task/1",
      "name": "strip-regression",
      "comment": "...",                                   optional
      "lattice": "li-mao-2024-sample" | {"nodes": [[x, y], ...]},   optional: refuse other lattices
      "inputs":  [{"node": 19, "direction": [0, -1]}, ...],       one per input column
      "regime": "linear" | "nonlinear",                   optional (default linear), see below
      "input_scaling": {"force_N": 0.049} | {"grams": 5},         N per unit input value
                       + optional "normalise": "none" | "max"     (divide each column by its largest |value|)
      "load_levels": [{"name": "light", "grams": 10}, ...],       instead of input_scaling: see below
      "outputs": [{"node": 6, "component": "x"}, ...],            "x" | "y"
      "loss": "mse" | "linear-cross-entropy" | "softmax" | "contrast-margin",
      "softmax_scale": 1.0,                               optional, mm
      "margin": 1.2, "margin_sharpness": 20,              optional, contrast-margin only
      "data": {"inputs": [[...], ...], "targets": [[...], ...]}   inline (MSE; "labels": [...] for classes)
              + "levels": ["light", ...]                    with load_levels: the level of every row
            | {"table": "data.csv", "input_columns": [...], "target_columns": [...]
               | "label_column": "species", "classes": [...], "split_column": "split", "sha256": "...",
               "level_column": "level"}                   with load_levels
            | {"generate": {"n_samples": 100, "range": [-1, 1], "compliance": [[...]], "noise": 0.0}},
      "split": {"train_fraction": 0.7, "seed": 0} | "all-train",  optional (default all-train)
      "success": {"metric": "test_rel_error", "max": 0.05},       or "min"; see SUCCESS_METRICS
      "train": {"epochs": 200, "lr": 0.05, "batch_size": 16, ...} optional TrainConfig defaults
    }

Forces: case c puts ``x[c, i] * scale * direction_i`` (N) on input node i, where
``x`` is the input table (after ``normalise``). Targets are displacements (mm) of
the output components, in the order of ``outputs``. The generator draws, from the
split seed, every input uniformly in ``range`` (input units), sets
``targets = compliance @ forces`` (mm, ``compliance`` in mm/N, one row per output,
one column per input) plus Gaussian noise of sigma ``noise`` (mm), and then splits
with the same generator (as the authors' regression script). A table is split by
its ``split_column`` (``train``/``test``) or by ``split``.

Load levels and the regime. ``load_levels`` names the load levels of a task (each with
``force_N`` or ``grams``, the force per unit input value at that level) and replaces
``input_scaling``; every data row names its level (``data.levels`` inline, ``level_column``
in a table), and case c puts ``x[c, i] * level_force(c) * direction_i`` on input node i. So
the same input pattern at a light and at a heavy load is two cases (two rows with the same
inputs and different levels), each with its own target or label. Per level, the metrics add
``rel_error_<level>`` (MSE) or ``accuracy_<level>`` and ``contrast_<level>``
(classification) to the task's metrics. ``"regime": "nonlinear"`` says the task needs large
deformation (e.g. its dominant output must change between levels of the same pattern, which
no linear lattice can do: ``u = C f`` scales every output with the load): training or
evaluating it with a linear model is refused (:func:`~fem_mnn.learn.tasks.require_regime`).
``"loss": "contrast-margin"`` is the classification loss
:class:`~fem_mnn.learn.losses.ContrastMargin` (a soft hinge on the log-contrast at ``margin``),
for success criteria on the contrast at every level.
"""

from __future__ import annotations

import csv
import difflib
import hashlib
import json
import math
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any, NamedTuple, NoReturn

import numpy as np

from fem_mnn.core.errors import InputError
from fem_mnn.core.files import read_input_text
from fem_mnn.design.builders import paper_sample
from fem_mnn.design.records import Design
from fem_mnn.learn.losses import Output
from fem_mnn.learn.tasks import REGIMES, Task, check_paper_lattice, gram_force, split_indices

__all__ = [
    "FORMAT",
    "NONLINEAR_TASK_FILES",
    "NONLINEAR_TASK_NAMES",
    "PAPER_TASK_FILES",
    "SUCCESS_METRICS",
    "check_paper_lattice",
    "load_task_file",
    "paper_task",
    "paper_task_path",
    "task_from_dict",
]

#: The ``format`` key every task file carries.
FORMAT = "fem_mnn.task/1"
#: Paper task name -> shipped file name (in ``fem_mnn/data/tasks``).
PAPER_TASK_FILES = {
    "behaviour": "behaviour.json",
    "behaviour-ce": "behaviour-ce.json",
    "regression": "regression.json",
    "regression-noisy": "regression-noisy.json",
    "iris": "iris.json",
}
#: Shipped tasks on the paper's lattice that need the nonlinear regime (issue 23; not the paper's):
#: name -> file name (in ``fem_mnn/data/tasks``). Read by :func:`paper_task` like the paper's.
NONLINEAR_TASK_FILES = {"load-switch": "load-switch.json", "load-and": "load-and.json"}
#: Names of the shipped nonlinear tasks (``--task`` accepts them with ``--regime nonlinear``).
NONLINEAR_TASK_NAMES = tuple(NONLINEAR_TASK_FILES)
#: Metrics a success criterion may name (``train_`` or ``test_`` prefix): MSE tasks
#: ``rel_error`` (mean ||u_out - target|| / ||target||) and ``loss``; classification
#: ``accuracy``, ``contrast`` (smallest over cases of |u_label| / largest other |u|) and ``loss``.
SUCCESS_METRICS = {"mse": ("rel_error", "loss"), "cross_entropy": ("accuracy", "contrast", "loss")}
_LOSSES = {
    "mse": ("mse", "linear"),
    "linear-cross-entropy": ("cross_entropy", "linear"),
    "softmax": ("cross_entropy", "softmax"),
    "contrast-margin": ("cross_entropy", "margin"),
}
_KEYS = {
    "format", "name", "comment", "lattice", "inputs", "input_scaling", "outputs", "loss", "softmax_scale",
    "data", "split", "success", "train", "regime", "load_levels", "margin", "margin_sharpness",
}  # fmt: skip


def _tasks_dir() -> Path:
    return Path(str(resources.files("fem_mnn").joinpath("data/tasks")))


def paper_task_path(name: str) -> Path:
    """The shipped task file of a paper task (:data:`PAPER_TASK_FILES`) or a nonlinear one (:data:`NONLINEAR_TASK_FILES`)."""
    files = {**PAPER_TASK_FILES, **NONLINEAR_TASK_FILES}
    if name not in files:
        raise InputError(f"unknown task (choose from {', '.join(files)})", field="--task", value=name)
    return _tasks_dir() / files[name]


def paper_task(name: str, design: Design, seed: int | None = None) -> Task:
    """A paper task, read from its shipped task file (refuses a design that is not the paper's lattice)."""
    return load_task_file(paper_task_path(name), design, seed=seed)


def load_task_file(path: str | Path, design: Design, seed: int | None = None) -> Task:
    """Read a task file and check it against ``design``.

    Args:
        path: The task JSON file (a data table is found relative to it).
        design: The lattice the task runs on.
        seed: Overrides ``split.seed`` (also the generator's seed).

    Raises:
        InputError: one line naming the file, the field and the value.
    """
    path = Path(path)
    text = read_input_text(path)
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, RecursionError, ValueError) as exc:
        where = f" at line {exc.lineno} column {exc.colno}" if isinstance(exc, json.JSONDecodeError) else ""
        raise InputError(f"not valid JSON{where}", source=str(path)) from None
    return task_from_dict(data, design, source=str(path), base=path.parent, seed=seed)


# ----------------------------------------------------------------------- reader


class _Reader:
    def __init__(self, source: str | None) -> None:
        self.src = source

    def fail(
        self, message: str, fld: str | None = None, value: object = None, has_value: bool | None = None
    ) -> NoReturn:
        raise InputError(message, source=self.src, field=fld, value=value, has_value=has_value)

    def obj(self, x: object, fld: str, keys: set[str], required: Sequence[str] = ()) -> dict[str, Any]:
        if not isinstance(x, dict):
            self.fail("must be an object", fld, x, True)
        unknown = sorted(set(x) - keys, key=str)
        if unknown:
            # as design files do: the nearest known key when there is one, else the list
            near = difflib.get_close_matches(str(unknown[0]), sorted(keys), n=1)
            hint = f"did you mean {near[0]!r}?" if near else f"known: {', '.join(sorted(keys))}"
            self.fail(f"unknown key ({hint})", f"{fld}.{unknown[0]}" if fld else unknown[0])
        for k in required:
            if k not in x:
                self.fail("missing required key", f"{fld}.{k}" if fld else k)
        return x

    def number(self, x: object, fld: str, *, positive: bool = False, nonneg: bool = False) -> float:
        if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(float(x)):
            self.fail("must be a finite number", fld, x, True)
        v = float(x)
        if positive and v <= 0:
            self.fail("must be > 0", fld, x, True)
        if nonneg and v < 0:
            self.fail("must be >= 0", fld, x, True)
        return v

    def integer(self, x: object, fld: str) -> int:
        if isinstance(x, bool) or not isinstance(x, int):
            self.fail("must be an integer", fld, x, True)
        return int(x)

    def lst(self, x: object, fld: str, nonempty: bool = True) -> list[Any]:
        if not isinstance(x, list):
            self.fail("must be a list", fld, x, True)
        if nonempty and not x:
            self.fail("must not be empty", fld, x, True)
        return x

    def string(self, x: object, fld: str) -> str:
        if not isinstance(x, str):
            self.fail("must be a string", fld, x, True)
        return x

    def matrix(self, x: object, fld: str, n_cols: int) -> np.ndarray:
        rows = self.lst(x, fld)
        out = []
        for r, row in enumerate(rows):
            row = self.lst(row, f"{fld}[{r}]")
            if len(row) != n_cols:
                self.fail(f"needs {n_cols} values", f"{fld}[{r}]", row, True)
            out.append([self.number(v, f"{fld}[{r}][{c}]") for c, v in enumerate(row)])
        return np.array(out, dtype=float).reshape(-1, n_cols)


def _node(rd: _Reader, x: object, fld: str, design: Design, role: str) -> int:
    i = rd.integer(x, fld)
    if not 0 <= i < design.n_nodes:
        rd.fail(f"unknown node id (the design's nodes are 0..{design.n_nodes - 1})", fld, i)
    if i in design.fixed:
        rd.fail(f"{role} node is clamped in the design (fixed {list(design.fixed)})", fld, i)
    return i


def _lattice(rd: _Reader, spec: object, design: Design) -> None:
    if isinstance(spec, str):
        if spec != "li-mao-2024-sample":
            rd.fail("unknown lattice name (known: li-mao-2024-sample)", "lattice", spec)

        check_paper_lattice(design, paper_sample().nodes, rd.src, spec)
        return
    spec = rd.obj(spec, "lattice", {"nodes"}, ("nodes",))
    check_paper_lattice(design, rd.matrix(spec["nodes"], "lattice.nodes", 2), rd.src, "task file's")


def _read_table(rd: _Reader, spec: dict[str, Any], base: Path | None) -> tuple[list[str], list[list[str]]]:
    name = rd.string(spec["table"], "data.table")
    path = Path(name) if Path(name).is_absolute() or base is None else base / name
    try:
        raw = path.read_bytes()
    except OSError as exc:
        rd.fail(f"cannot read the data table ({exc.strerror or exc.__class__.__name__})", "data.table", str(path))
    if "sha256" in spec:
        digest = hashlib.sha256(raw).hexdigest()
        if digest != rd.string(spec["sha256"], "data.sha256"):
            rd.fail("checksum mismatch: the data table was changed", "data.sha256", digest)
    try:
        rows = [r for r in csv.reader(raw.decode().splitlines()) if r]
    except (UnicodeDecodeError, csv.Error) as exc:
        rd.fail(f"the data table is not CSV ({exc.__class__.__name__})", "data.table", str(path))
    if len(rows) < 2:
        rd.fail("the data table needs a header and at least one row", "data.table", str(path))
    return [h.strip() for h in rows[0]], rows[1:]


def _columns(rd: _Reader, header: list[str], names: object, fld: str) -> list[int]:
    out = []
    for k, n in enumerate(rd.lst(names, fld)):
        n = rd.string(n, f"{fld}[{k}]")
        if n not in header:
            rd.fail(f"no such column in the data table (columns: {', '.join(header)})", f"{fld}[{k}]", n)
        out.append(header.index(n))
    return out


def _table_values(rd: _Reader, body: list[list[str]], cols: list[int], fld: str) -> np.ndarray:
    out = np.empty((len(body), len(cols)))
    for r, row in enumerate(body):
        for k, c in enumerate(cols):
            try:
                v = float(row[c])
            except (ValueError, IndexError):
                rd.fail("not a number", f"{fld} row {r + 2}", row[c] if c < len(row) else None, True)
            if not math.isfinite(v):
                rd.fail("not finite", f"{fld} row {r + 2}", row[c], True)
            out[r, k] = v
    return out


def task_from_dict(
    data: object,
    design: Design,
    *,
    source: str | None = None,
    base: Path | None = None,
    seed: int | None = None,
) -> Task:
    """Build a :class:`~fem_mnn.learn.tasks.Task` from a task file's JSON value, checked against ``design``."""
    rd = _Reader(source)
    d = rd.obj(data, "", _KEYS, ("format", "name", "inputs", "outputs", "loss", "data", "success"))
    if d["format"] != FORMAT:
        rd.fail(f"must be {FORMAT!r}", "format", d["format"])
    name = rd.string(d["name"], "name")
    if "lattice" in d:
        _lattice(rd, d["lattice"], design)
    if d["loss"] not in _LOSSES:
        rd.fail(f"must be one of {', '.join(_LOSSES)}", "loss", d["loss"])
    kind, normalisation = _LOSSES[d["loss"]]
    softmax_scale = rd.number(d.get("softmax_scale", 1.0), "softmax_scale", positive=True)
    regime = d.get("regime", "linear")
    if regime not in REGIMES:
        rd.fail(f"must be one of {', '.join(REGIMES)}", "regime", regime)
    margin, sharpness = _read_margin(rd, d, normalisation)
    inputs = _read_inputs(rd, d["inputs"], design)
    outputs = _read_outputs(rd, d["outputs"], design, kind)
    levels = None
    if "load_levels" in d:
        if "input_scaling" in d:
            rd.fail("give either input_scaling or load_levels (each level sets its own force)", "load_levels")
        levels = _read_levels(rd, d["load_levels"])
        scale, normalise = 1.0, "none"
    elif "input_scaling" not in d:
        rd.fail("missing required key (or give load_levels)", "input_scaling")
    else:
        scale, normalise = _read_scaling(rd, d["input_scaling"])
    fraction, split_seed = _read_split(rd, d.get("split", "all-train"), seed)
    rng = np.random.default_rng(split_seed)
    data_ = _read_data(rd, d["data"], kind, len(inputs), len(outputs), scale, rng, base, levels is not None)
    row_levels: list[str] = []
    if levels is not None:
        assert data_.levels is not None  # _read_data refuses rows without a level when load_levels is given
        row_levels = data_.levels
        unknown = [lv for lv in row_levels if lv not in levels]
        if unknown:
            rd.fail(f"unknown level (load_levels: {', '.join(levels)})", "data.levels", unknown[0])
        # N per unit input value, row by row: the level's force
        row_scale: float | np.ndarray = np.array([levels[lv] for lv in row_levels])[:, None]
    else:
        row_scale = scale
    f = _input_forces(rd, data_, inputs, design, row_scale, normalise)
    n = data_.x.shape[0]
    if data_.train is not None and data_.test is not None:  # a table's split column (sets both)
        tr, te = data_.train, data_.test
    elif fraction is None:
        tr, te = np.arange(n), np.zeros(0, dtype=int)
    else:
        tr, te = split_indices(n, fraction, rng)
    if tr.size == 0:
        rd.fail("the split leaves no training case", "split", {"n": n, "train_fraction": fraction}, True)

    success = _success(rd, d["success"], kind)
    train = rd.obj(d.get("train", {}), "train", _TRAIN_KEYS)
    info: dict[str, Any] = {
        "source": source,
        "inputs": [{"node": nd, "direction": dv} for nd, dv in inputs],
        "outputs": [[o.node, "xy"[o.component]] for o in outputs],
        "input_scaling": {"force_N_per_unit": scale, "normalise": normalise} if levels is None else None,
        "regime": regime,
        "split": {"train": tr.tolist(), "test": te.tolist(), "seed": split_seed},
        "success": success,
    }
    if data_.classes:
        info["classes"] = data_.classes
    if levels is not None:
        info["load_levels"] = {lv: {"force_N_per_unit": v} for lv, v in levels.items()}
        kw_levels: dict[str, Any] = {
            "train_levels": tuple(row_levels[i] for i in tr),
            "test_levels": tuple(row_levels[i] for i in te),
        }
    else:
        kw_levels = {}
    kw: dict[str, Any] = {}
    # every reader of _read_data gives targets to an MSE task and labels to a cross-entropy one
    if kind == "mse":
        assert data_.targets is not None
        kw = {"train_targets": data_.targets[tr], "test_targets": data_.targets[te], "loss_si_scale": 1e-6}
    else:
        assert data_.labels is not None
        kw = {"train_labels": data_.labels[tr], "test_labels": data_.labels[te], "loss_si_scale": 1.0}
    return Task(
        name=name,
        kind=kind,
        train_loads=f[tr],
        test_loads=f[te],
        outputs=tuple(outputs),
        normalisation=normalisation,
        softmax_scale=softmax_scale,
        info=info,
        success=success,
        train_settings=dict(train),
        regime=regime,
        margin=margin,
        margin_sharpness=sharpness,
        **kw_levels,
        **kw,
    )


def _read_margin(rd: _Reader, d: dict[str, Any], normalisation: str) -> tuple[float, float]:
    """(margin, sharpness) of the contrast-margin loss (refused with another loss)."""
    for key in ("margin", "margin_sharpness"):
        if key in d and normalisation != "margin":
            rd.fail("only with loss contrast-margin", key, d[key])
    margin = rd.number(d.get("margin", 1.2), "margin")
    if not margin > 1:
        rd.fail("must be > 1 (a contrast)", "margin", d.get("margin"))
    return margin, rd.number(d.get("margin_sharpness", 20.0), "margin_sharpness", positive=True)


def _read_levels(rd: _Reader, spec: object) -> dict[str, float]:
    """``load_levels``: level name -> force (N) per unit input value, in file order."""
    levels: dict[str, float] = {}
    for k, lv in enumerate(rd.lst(spec, "load_levels")):
        fld = f"load_levels[{k}]"
        lv = rd.obj(lv, fld, {"name", "force_N", "grams"}, ("name",))
        name = rd.string(lv["name"], f"{fld}.name")
        if not name or not all(ch.isalnum() or ch in "-_" for ch in name):
            rd.fail("must be a non-empty name of letters, digits, - and _ (it names metrics)", f"{fld}.name", name)
        if name in levels:
            rd.fail("level given twice", f"{fld}.name", name)
        if ("force_N" in lv) == ("grams" in lv):
            rd.fail("give exactly one of force_N, grams", fld, lv, True)
        if "grams" in lv:
            levels[name] = float(gram_force(rd.number(lv["grams"], f"{fld}.grams", positive=True)))
        else:
            levels[name] = rd.number(lv["force_N"], f"{fld}.force_N", positive=True)
    return levels


def _read_inputs(rd: _Reader, specs: object, design: Design) -> list[tuple[int, list[float]]]:
    """(node, direction) of every input, checked against the design."""
    inputs = []
    for k, spec in enumerate(rd.lst(specs, "inputs")):
        spec = rd.obj(spec, f"inputs[{k}]", {"node", "direction", "name"}, ("node", "direction"))
        node = _node(rd, spec["node"], f"inputs[{k}].node", design, "input")
        dvec = rd.lst(spec["direction"], f"inputs[{k}].direction")
        if len(dvec) != 2:
            rd.fail("a direction is [dx, dy]", f"inputs[{k}].direction", dvec, True)
        dvec = [rd.number(v, f"inputs[{k}].direction[{c}]") for c, v in enumerate(dvec)]
        if not any(dvec):
            rd.fail("must not be zero", f"inputs[{k}].direction", dvec, True)
        inputs.append((node, dvec))
    return inputs


def _read_outputs(rd: _Reader, specs: object, design: Design, kind: str) -> list[Output]:
    """The output components, checked against the design."""
    outputs: list[Output] = []
    for k, spec in enumerate(rd.lst(specs, "outputs")):
        spec = rd.obj(spec, f"outputs[{k}]", {"node", "component", "name"}, ("node", "component"))
        node = _node(rd, spec["node"], f"outputs[{k}].node", design, "output")
        if spec["component"] not in ("x", "y"):
            rd.fail("must be 'x' or 'y'", f"outputs[{k}].component", spec["component"])
        out = Output(node, "xy".index(spec["component"]))
        if out in outputs:
            rd.fail("output given twice", f"outputs[{k}]", spec, True)
        outputs.append(out)
    if kind == "cross_entropy" and len(outputs) < 2:
        rd.fail("a classification needs at least two outputs (one per class)", "outputs", len(outputs))

    return outputs


def _read_scaling(rd: _Reader, spec: object) -> tuple[float, str]:
    """(N per unit input, normalisation) of ``input_scaling``."""
    sc = rd.obj(spec, "input_scaling", {"force_N", "grams", "normalise"})
    if ("force_N" in sc) == ("grams" in sc):
        rd.fail("give exactly one of force_N, grams", "input_scaling", sc, True)
    if "grams" in sc:
        scale = float(gram_force(rd.number(sc["grams"], "input_scaling.grams", positive=True)))
    else:
        scale = rd.number(sc["force_N"], "input_scaling.force_N", positive=True)
    normalise = sc.get("normalise", "none")
    if normalise not in ("none", "max"):
        rd.fail("must be 'none' or 'max'", "input_scaling.normalise", normalise)

    return scale, normalise


def _read_split(rd: _Reader, split: object, seed: int | None) -> tuple[float | None, int]:
    """(train fraction or None for all-train, split seed); ``seed`` overrides the file's."""
    split_seed = 0
    fraction = None
    if split != "all-train":
        split = rd.obj(split, "split", {"train_fraction", "seed"}, ("train_fraction",))
        fraction = rd.number(split["train_fraction"], "split.train_fraction")
        if not 0 < fraction <= 1:
            rd.fail("must lie in (0, 1]", "split.train_fraction", fraction)
        split_seed = rd.integer(split.get("seed", 0), "split.seed")
    if seed is not None:
        split_seed = int(seed)

    return fraction, split_seed


class _Data(NamedTuple):
    """A task's data: input values, targets or labels, and a split given by the table (else None)."""

    x: np.ndarray
    targets: np.ndarray | None
    labels: np.ndarray | None
    classes: list[str] | None
    forces_n: np.ndarray | None  # the generator's forces (N), exact bits
    train: np.ndarray | None
    test: np.ndarray | None
    levels: list[str] | None = None  # the load level of every row (with load_levels)


def _read_data(
    rd: _Reader,
    spec: object,
    kind: str,
    n_in: int,
    n_out: int,
    scale: float,
    rng: np.random.Generator,
    base: Path | None,
    with_levels: bool = False,
) -> _Data:
    """Input values x (n, n_inputs), targets (n, n_outputs) or labels (n,): generated, from a table, or inline."""
    dat = rd.obj(
        spec,
        "data",
        {"inputs", "targets", "labels", "table", "input_columns", "target_columns", "label_column", "classes",
         "split_column", "sha256", "generate", "levels", "level_column"},
    )  # fmt: skip
    for key in ("levels", "level_column"):
        if key in dat and not with_levels:
            rd.fail("a row's level needs the task's load_levels", f"data.{key}", dat[key])
    if "generate" in dat:
        if with_levels:
            rd.fail("the generator has no load levels: give the rows inline or in a table", "data.generate")
        return _generated(rd, dat, kind, n_in, n_out, scale, rng)
    out = _tabled(rd, dat, kind, n_in, n_out, base) if "table" in dat else _inline(rd, dat, kind, n_in, n_out)
    if with_levels and out.levels is None:
        rd.fail("missing: the level of every row (levels inline, level_column in a table)", "data.levels")
    return out


def _generated(
    rd: _Reader, dat: dict[str, Any], kind: str, n_in: int, n_out: int, scale: float, rng: np.random.Generator
) -> _Data:
    if kind != "mse":
        rd.fail("the generator makes regression targets: use loss mse", "data.generate")
    g = rd.obj(dat["generate"], "data.generate", {"n_samples", "range", "compliance", "noise"},
               ("n_samples", "range", "compliance"))  # fmt: skip
    n = rd.integer(g["n_samples"], "data.generate.n_samples")
    if n < 1:
        rd.fail("must be >= 1", "data.generate.n_samples", n)
    lo, hi = (
        rd.number(v, f"data.generate.range[{k}]") for k, v in enumerate(rd.lst(g["range"], "data.generate.range")[:2])
    )
    if not lo < hi:
        rd.fail("needs low < high", "data.generate.range", [lo, hi], True)
    comp = rd.matrix(g["compliance"], "data.generate.compliance", n_in)
    if comp.shape[0] != n_out:
        rd.fail(f"needs one row per output ({n_out})", "data.generate.compliance", comp.shape[0])
    noise = rd.number(g.get("noise", 0.0), "data.generate.noise", nonneg=True)
    lo_n, hi_n = lo * scale, hi * scale
    forces_n = (
        (lo_n + (hi_n - lo_n) * rng.random((n, n_in))) if n_in > 1 else (lo_n + (hi_n - lo_n) * rng.random(n))[:, None]
    )
    # one input: a plain product (a sum would turn -0.0 into 0.0 and change the bits)
    targets = forces_n * comp[:, 0][None, :] if n_in == 1 else forces_n @ comp.T
    if noise > 0:
        targets = targets + noise * rng.standard_normal(targets.shape)
    x = forces_n / scale
    return _Data(x, targets, None, None, forces_n, None, None)


def _tabled(rd: _Reader, dat: dict[str, Any], kind: str, n_in: int, n_out: int, base: Path | None) -> _Data:
    targets = labels = None
    classes: list[str] | None = None
    tr = te = None
    header, body = _read_table(rd, dat, base)
    x = _table_values(rd, body, _columns(rd, header, dat.get("input_columns"), "data.input_columns"), "data.table")
    if x.shape[1] != n_in:
        rd.fail(f"needs one column per input ({n_in})", "data.input_columns", x.shape[1])
    if kind == "mse":
        tc = _columns(rd, header, dat.get("target_columns"), "data.target_columns")
        if len(tc) != n_out:
            rd.fail(f"needs one column per output ({n_out})", "data.target_columns", len(tc))
        targets = _table_values(rd, body, tc, "data.table")
    else:
        (lc,) = _columns(rd, header, [dat.get("label_column")], "data.label_column")
        classes = [rd.string(c, f"data.classes[{k}]") for k, c in enumerate(rd.lst(dat.get("classes"), "data.classes"))]
        if len(classes) != n_out:
            rd.fail(f"needs one class per output ({n_out})", "data.classes", classes, True)
        labels = np.empty(len(body), dtype=int)
        for r, row in enumerate(body):
            val = row[lc].strip() if lc < len(row) else ""
            if val not in classes:
                rd.fail(f"unknown class (classes: {', '.join(classes)})", f"data.table row {r + 2}", val)
            labels[r] = classes.index(val)
    if "split_column" in dat:
        (sc_i,) = _columns(rd, header, [dat["split_column"]], "data.split_column")
        marks = [row[sc_i].strip() if sc_i < len(row) else "" for row in body]
        for r, m in enumerate(marks):
            if m not in ("train", "test"):
                rd.fail("split must be 'train' or 'test'", f"data.table row {r + 2}", m)
        tr = np.array([r for r, m in enumerate(marks) if m == "train"], dtype=int)
        te = np.array([r for r, m in enumerate(marks) if m == "test"], dtype=int)
    levels = None
    if "level_column" in dat:
        (lv_i,) = _columns(rd, header, [dat["level_column"]], "data.level_column")
        levels = [row[lv_i].strip() if lv_i < len(row) else "" for row in body]
    return _Data(x, targets, labels, classes, None, tr, te, levels)


def _inline(rd: _Reader, dat: dict[str, Any], kind: str, n_in: int, n_out: int) -> _Data:
    targets = labels = None
    x = rd.matrix(dat.get("inputs"), "data.inputs", n_in)
    if kind == "mse":
        targets = rd.matrix(dat.get("targets"), "data.targets", n_out)
        if targets.shape[0] != x.shape[0]:
            rd.fail(f"needs one row per input row ({x.shape[0]})", "data.targets", targets.shape[0])
    else:
        lab = rd.lst(dat.get("labels"), "data.labels")
        labels = np.array([rd.integer(v, f"data.labels[{k}]") for k, v in enumerate(lab)], dtype=int)
        if labels.shape[0] != x.shape[0]:
            rd.fail(f"needs one label per input row ({x.shape[0]})", "data.labels", labels.shape[0])
        if labels.min() < 0 or labels.max() >= n_out:
            rd.fail(f"labels index the outputs (0..{n_out - 1})", "data.labels", labels.tolist(), True)
    levels = None
    if "levels" in dat:
        raw = rd.lst(dat["levels"], "data.levels")
        levels = [rd.string(v, f"data.levels[{k}]") for k, v in enumerate(raw)]
        if len(levels) != x.shape[0]:
            rd.fail(f"needs one level per input row ({x.shape[0]})", "data.levels", len(levels))
    return _Data(x, targets, labels, None, None, None, None, levels)


def _input_forces(
    rd: _Reader,
    data: _Data,
    inputs: list[tuple[int, list[float]]],
    design: Design,
    scale: float | np.ndarray,
    normalise: str,
) -> np.ndarray:
    """(n, n_nodes, 2) forces (N) on the input nodes (``scale``: N per unit, one number or (n, 1) per row)."""
    x, forces_n = data.x, data.forces_n
    n = x.shape[0]
    # only nonzero direction components are written (no -0.0)
    if forces_n is None:
        if normalise == "max":
            m = np.abs(x).max(axis=0)
            if np.any(m == 0):
                rd.fail("an input column is all zero: cannot normalise by its max", "input_scaling.normalise", "max")
            forces_n = x / m * scale
        else:
            forces_n = x * scale
    f = np.zeros((n, design.n_nodes, 2))
    for k, (node, dvec) in enumerate(inputs):
        for c in (0, 1):
            if dvec[c] != 0:
                f[:, node, c] += forces_n[:, k] * dvec[c]

    return f


_TRAIN_KEYS = {
    "epochs", "lr", "batch_size", "beta1", "beta2", "eps", "parametrisation", "beta", "paper_gradient", "shuffle",
    "loss_tol", "patience", "min_delta", "step_tol", "metric_tol",
}  # fmt: skip


def _success(rd: _Reader, spec: object, kind: str) -> dict[str, Any]:
    s = rd.obj(spec, "success", {"metric", "min", "max"}, ("metric",))
    metric = rd.string(s["metric"], "success.metric")
    split, _, base = metric.partition("_")
    allowed = SUCCESS_METRICS[kind]
    if split not in ("train", "test") or base not in allowed:
        names = ", ".join(f"{p}_{m}" for p in ("train", "test") for m in allowed)
        rd.fail(f"unknown metric for this loss (known: {names})", "success.metric", metric)
    if ("min" in s) == ("max" in s):
        rd.fail("give exactly one of min (metric >= min) or max (metric <= max)", "success", s, True)
    bound = "min" if "min" in s else "max"
    return {"metric": metric, bound: rd.number(s[bound], f"success.{bound}")}
