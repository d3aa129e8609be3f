"""Learning tasks: load cases, losses and metrics, as in Li & Mao (2024).

A :class:`Task` is data: the training and test load cases (N), the output
components, the targets (MSE) or class labels (cross-entropy), and how the loss
converts to SI units. The training engine asks it for the loss of a batch of
case indices (:meth:`Task.loss`) and for end-of-epoch metrics (:meth:`Task.metrics`).

API (stable)::

    task = behaviour_mse(design)                 # Figure 2, MSE targets
    task = behaviour_cross_entropy(design)       # Figure 2, one output dominates
    task = regression(design, noise=0.0, seed=0) # Figure 3
    task = iris(design, seed=0)                  # Figure 4
    task.train_loads, task.test_loads            # (n, n_nodes, 2) N
    task.loss("train", idx)(u) -> (case_loss, dL/du)
    task.metrics("test", u) -> {"accuracy": ...} or {"rel_error": ...}

Conventions: ids 0-based (paper node n = id n - 1), loads in N, displacements and
targets in mm, g = 9.8 m/s^2 (a mass of m grams weighs m * 9.8e-3 N), a hanging
weight pulls in -y.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import numpy as np

from fem_mnn.contract import Loss
from fem_mnn.core.errors import InputError
from fem_mnn.design.builders import paper_sample
from fem_mnn.design.records import Design
from fem_mnn.learn.losses import MSE, ContrastMargin, CrossEntropy, Output

__all__ = [
    "G",
    "IRIS_CLASSES",
    "IRIS_FEATURES",
    "IRIS_SHA256",
    "REGIMES",
    "REGRESSION_COMPLIANCE",
    "TASK_NAMES",
    "Task",
    "behaviour_cross_entropy",
    "behaviour_mse",
    "build_task",
    "check_paper_lattice",
    "contrast",
    "gram_force",
    "iris",
    "load_iris",
    "regression",
    "require_regime",
    "split_indices",
]

#: Gravity used by the paper (m/s^2).
G = 9.8
#: Iris feature order of the data file (cm).
IRIS_FEATURES = ("sepal_length", "sepal_width", "petal_length", "petal_width")
#: Class index order (alphabetical, as MATLAB's unique() and scikit-learn give).
IRIS_CLASSES = ("setosa", "versicolor", "virginica")
#: SHA-256 of fem_mnn/data/iris.csv (checked on load).
IRIS_SHA256 = "9cc1c345c71bcc9b486b74cbf6063fa66f4bb5e0f603a4b3c3471ec2e5e8e355"
#: Names accepted by :func:`build_task` (the CLI's --task).
TASK_NAMES = ("behaviour", "behaviour-ce", "regression", "regression-noisy", "iris")
#: The regimes a task may need (task file key ``regime``): ``linear`` tasks train on any model,
#: ``nonlinear`` ones only on a model in large deformation (a linear model cannot do them).
REGIMES = ("linear", "nonlinear")


def gram_force(grams: float | np.ndarray) -> float | np.ndarray:
    """Weight (N) of a hanging mass in grams, with the paper's g = 9.8 m/s^2."""
    return grams * 1e-3 * G


@dataclass(frozen=True, eq=False)
class Task:
    """A supervised task on a lattice.

    Attributes:
        name: Task name (``behaviour``, ``regression``, ``iris``...).
        kind: ``"mse"`` or ``"cross_entropy"``.
        train_loads: (n_train, n_nodes, 2) forces (N).
        test_loads: (n_test, n_nodes, 2) forces (N); n_test may be 0.
        outputs: Output components (node id, 0 = x / 1 = y).
        train_targets: (n_train, n_outputs) target displacements (mm), MSE only.
        test_targets: (n_test, n_outputs), MSE only.
        train_labels: (n_train,) class per case, cross-entropy only.
        test_labels: (n_test,), cross-entropy only.
        normalisation: Cross-entropy normalisation, ``"linear"`` (paper) or ``"softmax"``.
        softmax_scale: Displacement scale of the softmax (mm).
        loss_si_scale: Loss in SI units = loss * this (1e-6 for an MSE in mm^2,
            1 for the dimensionless cross-entropy); used for the paper-gradient
            switch and the paper's logged loss.
        info: Free description (inputs, data source, split seed...), JSON-ready.
        success: Success criterion ``{"metric": "test_rel_error", "max": 0.05}`` (or ``"min"``),
            read from a task file (:mod:`fem_mnn.learn.taskfile`); None when not given.
            It does not change the task's numbers (not in :meth:`fingerprint`).
        train_settings: Training defaults from the task file (:class:`~fem_mnn.learn.config.TrainConfig` keys).
        regime: ``"linear"`` or ``"nonlinear"`` (see :data:`REGIMES` and :func:`require_regime`).
        train_levels: Load level name of every training case (``load_levels`` of a task file), or None.
        test_levels: The same for the test cases.
        margin: Contrast aimed at by the ``"margin"`` normalisation (:class:`~fem_mnn.learn.losses.ContrastMargin`).
        margin_sharpness: Its hinge's sharpness.
    """

    name: str
    kind: str
    train_loads: np.ndarray
    test_loads: np.ndarray
    outputs: tuple[Output, ...]
    train_targets: np.ndarray | None = None
    test_targets: np.ndarray | None = None
    train_labels: np.ndarray | None = None
    test_labels: np.ndarray | None = None
    normalisation: str = "linear"
    softmax_scale: float = 1.0
    loss_si_scale: float = 1.0
    info: dict[str, Any] = field(default_factory=dict)
    success: dict[str, Any] | None = None
    train_settings: dict[str, Any] = field(default_factory=dict)
    regime: str = "linear"
    train_levels: tuple[str, ...] | None = None
    test_levels: tuple[str, ...] | None = None
    margin: float = 1.2
    margin_sharpness: float = 20.0

    def __post_init__(self) -> None:
        for name in ("train_loads", "test_loads", "train_targets", "test_targets", "train_labels", "test_labels"):
            v = getattr(self, name)
            if v is not None:
                arr = np.array(v, dtype=int if "labels" in name else float)
                arr.setflags(write=False)
                object.__setattr__(self, name, arr)
        object.__setattr__(self, "outputs", tuple(Output(int(n), int(c)) for n, c in self.outputs))
        if self.kind not in ("mse", "cross_entropy"):
            raise InputError("must be 'mse' or 'cross_entropy'", field="kind", value=self.kind)
        if self.regime not in REGIMES:
            raise InputError(f"must be one of {', '.join(REGIMES)}", field="regime", value=self.regime)
        for name, loads in (("train_levels", self.train_loads), ("test_levels", self.test_loads)):
            v = getattr(self, name)
            if v is not None:
                v = tuple(str(x) for x in v)
                if len(v) != loads.shape[0]:
                    raise InputError("needs one level per case", field=name, value=len(v))
                object.__setattr__(self, name, v)

    @property
    def n_nodes(self) -> int:
        return int(self.train_loads.shape[1])

    def fingerprint(self) -> str:
        """SHA-256 (16 hex digits) of everything that sets the task's numbers (loads, outputs, targets, labels)."""
        h = hashlib.sha256()
        h.update(f"{self.name}|{self.kind}|{self.normalisation}|{self.softmax_scale!r}|{self.loss_si_scale!r}".encode())
        h.update(repr([tuple(o) for o in self.outputs]).encode())
        for name in ("train_loads", "test_loads", "train_targets", "test_targets", "train_labels", "test_labels"):
            v = getattr(self, name)
            h.update(name.encode())
            if v is not None:
                h.update(repr(v.shape).encode())
                h.update(np.ascontiguousarray(v).tobytes())
        # added with the nonlinear tasks, only when used: the fingerprints of older tasks stay as they were
        if self.regime != "linear":
            h.update(f"regime={self.regime}".encode())
        if self.train_levels is not None or self.test_levels is not None:
            h.update(repr((self.train_levels, self.test_levels)).encode())
        if self.normalisation == "margin":
            h.update(f"margin={self.margin!r},{self.margin_sharpness!r}".encode())
        return h.hexdigest()[:16]

    @property
    def margin_loss(self) -> bool:
        """Whether the loss is the contrast margin (its metric, the contrast, is then always reported)."""
        return self.normalisation == "margin"

    def _split(self, split: str) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        if split == "train":
            return self.train_loads, self.train_targets, self.train_labels
        if split == "test":
            return self.test_loads, self.test_targets, self.test_labels
        raise InputError("must be 'train' or 'test'", field="split", value=split)

    def _targets(self, split: str) -> np.ndarray:
        """The targets of ``split`` of an MSE task (a clear error when the task has none)."""
        targets = self._split(split)[1]
        if targets is None:
            raise InputError("an MSE task needs targets", field=f"{split}_targets", value=None)
        return targets

    def _labels(self, split: str) -> np.ndarray:
        """The labels of ``split`` of a cross-entropy task (a clear error when the task has none)."""
        labels = self._split(split)[2]
        if labels is None:
            raise InputError("a cross-entropy task needs labels", field=f"{split}_labels", value=None)
        return labels

    def loss(self, split: str, indices: Sequence[int] | np.ndarray) -> Loss:
        """The loss of the cases ``indices`` of ``split`` (called on their displacements)."""
        idx = np.asarray(indices, dtype=int)
        if self.kind == "mse":
            targets = self._targets(split)
            t = np.full((idx.size, self.n_nodes, 2), np.nan)
            for o, out in enumerate(self.outputs):
                t[:, out.node, out.component] = targets[idx, o]
            return MSE(t)
        labels = self._labels(split)
        if self.normalisation == "margin":
            return ContrastMargin(self.outputs, labels[idx], margin=self.margin, sharpness=self.margin_sharpness)
        return CrossEntropy(self.outputs, labels[idx], normalisation=self.normalisation, scale=self.softmax_scale)

    def success_met(self, metrics: dict[str, float]) -> dict[str, Any] | None:
        """The success criterion against end-of-training ``metrics`` (``train_``/``test_`` keys)."""
        if self.success is None:
            return None
        name = self.success["metric"]
        value = metrics.get(name)
        out: dict[str, Any] = {**self.success, "value": value}
        if value is None or not np.isfinite(value):
            out["met"] = False
        elif "min" in self.success:
            out["met"] = bool(value >= self.success["min"])
        else:
            out["met"] = bool(value <= self.success["max"])
        return out

    def output_values(self, u: np.ndarray) -> np.ndarray:
        """(n_cases, n_outputs) the output components of displacements u (mm)."""
        nodes = [o.node for o in self.outputs]
        comps = [o.component for o in self.outputs]
        return np.asarray(u)[:, nodes, comps]

    def metrics(self, split: str, u: np.ndarray) -> dict[str, float]:
        """Metrics of ``split`` from the displacements of all its cases.

        MSE tasks: ``rel_error``, the mean over cases of ||u_out - target|| / ||target||
        (the authors' accuracy measure). Cross-entropy tasks: ``accuracy``, the share
        of cases whose largest |output| is the label. With a single case, the
        output values themselves are added (``u_<node><x|y>``, mm). A task with load
        levels adds, per level, ``rel_error_<level>`` or ``accuracy_<level>`` and
        ``contrast_<level>`` (the contrast of that level's cases).
        """
        vals = self.output_values(u)
        out: dict[str, float] = {}
        if self.kind == "mse":
            targets = self._targets(split)
            num = np.linalg.norm(vals - targets, axis=1)
            den = np.linalg.norm(targets, axis=1)
            with np.errstate(divide="ignore", invalid="ignore"):
                rel = np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)
            out["rel_error"] = float(np.nanmean(rel)) if np.any(den > 0) else float("nan")
        else:
            labels = self._labels(split)
            pred = np.argmax(np.abs(vals), axis=1)
            out["accuracy"] = float(np.mean(pred == labels))
            if (self.success is not None and self.success["metric"].endswith("_contrast")) or self.margin_loss:
                out["contrast"] = contrast(vals, labels)
        levels = self.train_levels if split == "train" else self.test_levels
        if levels is not None:
            names = np.array(levels)
            for level in dict.fromkeys(levels):  # first-seen order
                sel = names == level
                if self.kind == "mse":
                    out[f"rel_error_{level}"] = float(np.nanmean(rel[sel])) if np.any(den[sel] > 0) else float("nan")
                else:
                    out[f"accuracy_{level}"] = float(np.mean(pred[sel] == labels[sel]))
                    out[f"contrast_{level}"] = contrast(vals[sel], labels[sel])
        if vals.shape[0] == 1:
            for o, v in zip(self.outputs, vals[0], strict=True):
                out[f"u_{o.node}{'xy'[o.component]}"] = float(v)
        return out


# ---------------------------------------------------------------------- helpers


def contrast(values: np.ndarray, labels: np.ndarray) -> float:
    """Smallest over cases of |u_label| / largest other |u| (> 1: every case has its label's output dominating)."""
    m = np.abs(np.asarray(values, dtype=float))
    idx = np.arange(m.shape[0])
    own = m[idx, labels]
    other = m.copy()
    other[idx, labels] = -np.inf
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = own / other.max(axis=1)
    return float(np.min(ratio)) if ratio.size else float("nan")


def require_regime(task: Task, regime: str, what: str = "a linear model") -> None:
    """Refuse to train or evaluate a nonlinear task with a linear model (one line, the reason).

    A linear lattice answers ``u = C f``: scaling a load scales every output by the same
    factor, so which output dominates (and every contrast) is the same at a light and a heavy
    load of the same pattern. A task whose labels change with the load level alone cannot be
    learnt by it, whatever the widths: running it would only report a useless result.

    Raises:
        InputError: ``task.regime`` is ``"nonlinear"`` and ``regime`` is not.
    """
    if task.regime == "nonlinear" and regime != "nonlinear":
        raise InputError(
            f"task {task.name!r} needs the nonlinear regime, not {what}: a linear lattice scales every "
            "output with the load, so what dominates cannot change between load levels; use --regime nonlinear",
            field="regime",
            value=regime,
        )


def check_paper_lattice(design: Design, nodes: np.ndarray, source: str | None, name: str) -> None:
    """Refuse ``design`` unless its nodes are ``nodes`` (count and positions, up to a translation)."""
    nodes = np.asarray(nodes, dtype=float)
    hint = "write a task file for your lattice (--task-file)"
    if design.n_nodes != nodes.shape[0]:
        raise InputError(
            f"the task is for the {name} lattice ({nodes.shape[0]} nodes), the design has {design.n_nodes}: {hint}",
            source=source,
            field="lattice",
            value=design.name or None,
        )
    shift = design.nodes[0] - nodes[0]
    off = np.abs(design.nodes - shift - nodes).max(axis=1)
    bad = int(np.argmax(off))
    if off[bad] > 1e-6 * max(1.0, float(np.abs(nodes).max())):
        raise InputError(
            f"the task is for the {name} lattice; node {bad} of the design is {off[bad]:.3g} mm off it: {hint}",
            source=source,
            field="lattice",
            value=design.name or None,
        )


def _check_nodes(design: Design, ids: Sequence[int], what: str) -> None:
    for k, i in enumerate(ids):
        if not 0 <= int(i) < design.n_nodes:
            raise InputError(f"unknown node id (nodes are 0..{design.n_nodes - 1})", field=f"{what}[{k}]", value=i)
        if int(i) in design.fixed:
            raise InputError("is a fixed node", field=f"{what}[{k}]", value=i)


def split_indices(n: int, train_fraction: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Random train/test split as the authors' code: the first round(n * fraction) of a permutation train.

    Shared by the paper's tasks and the task files' generated data, so one seed splits alike.

    Args:
        n: number of cases.
        train_fraction: share of the cases for training, in [0, 1].
        rng: the generator that draws the permutation.

    Returns:
        (train indices, test indices), disjoint, together a permutation of ``range(n)``.
    """
    perm = rng.permutation(n)
    n_train = int(np.floor(n * train_fraction + 0.5))
    return perm[:n_train], perm[n_train:]


# ------------------------------------------------------------------ Figure 2 tasks


def behaviour_mse(
    design: Design,
    targets: Sequence[float] = (-0.5, -0.8),
    input_node: int = 10,
    grams: float = 5.0,
    output_nodes: Sequence[int] = (12, 13),
) -> Task:
    """Figure 2 behaviour learning with an MSE loss on u_y of two output nodes.

    Defaults are the authors' script ``Learningspring2D_MSE.m``: 5 g downward at
    paper node 11 (id 10), targets u_y = -0.5 mm at node 13 and -0.8 mm at node 14
    (ids 12, 13); loss 1/2 sum (u_y - target)^2 in mm^2.
    """
    _check_nodes(design, [input_node], "input_node")
    _check_nodes(design, output_nodes, "output_nodes")
    if len(targets) != len(output_nodes):
        raise InputError("one target per output node", field="targets", value=list(targets))
    f = np.zeros((1, design.n_nodes, 2))
    f[0, input_node, 1] = -gram_force(grams)
    return Task(
        name="behaviour",
        kind="mse",
        train_loads=f,
        test_loads=np.zeros((0, design.n_nodes, 2)),
        outputs=tuple(Output(n, 1) for n in output_nodes),
        train_targets=np.array([targets], dtype=float),
        test_targets=np.zeros((0, len(output_nodes))),
        loss_si_scale=1e-6,
        info={
            "input": {"node": input_node, "grams": grams, "force_N": [0.0, -gram_force(grams)]},
            "outputs": "u_y of " + ", ".join(f"id {n}" for n in output_nodes),
            "targets_mm": list(targets),
        },
    )


def behaviour_cross_entropy(
    design: Design,
    dominant: int = 0,
    input_node: int = 10,
    grams: float = 5.0,
    output_nodes: Sequence[int] = (12, 13),
    normalisation: str = "linear",
) -> Task:
    """Figure 2 behaviour learning: make one output dominate (cross-entropy).

    5 g downward at paper node 11 (id 10); outputs u_y of nodes 13 and 14 (ids 12,
    13); p = |u| / sum |u|, L = -log p[dominant]. ``dominant=0`` (node 13) is the
    authors' ``u_output = [0,1;0,0]`` and gives the paper's ``u2``; 1 gives ``u3``.
    """
    _check_nodes(design, [input_node], "input_node")
    _check_nodes(design, output_nodes, "output_nodes")
    if not 0 <= dominant < len(output_nodes):
        raise InputError("must index an output node", field="dominant", value=dominant)
    f = np.zeros((1, design.n_nodes, 2))
    f[0, input_node, 1] = -gram_force(grams)
    return Task(
        name="behaviour-ce",
        kind="cross_entropy",
        train_loads=f,
        test_loads=np.zeros((0, design.n_nodes, 2)),
        outputs=tuple(Output(n, 1) for n in output_nodes),
        train_labels=np.array([dominant]),
        test_labels=np.zeros(0, dtype=int),
        normalisation=normalisation,
        loss_si_scale=1.0,
        info={
            "input": {"node": input_node, "grams": grams, "force_N": [0.0, -gram_force(grams)]},
            "outputs": "u_y of " + ", ".join(f"id {n}" for n in output_nodes),
            "dominant_output": dominant,
        },
    )


# ------------------------------------------------------------------- Figure 3 task


#: Target compliance of the regression task (mm/N) for (u_x13, u_y13, u_x14, u_y14).
REGRESSION_COMPLIANCE = (0.0, 16.0, 4.0, 16.0)


def regression(
    design: Design,
    noise: float = 0.0,
    seed: int = 0,
    n_samples: int = 100,
    train_fraction: float = 0.7,
    max_grams: float = 20.0,
    compliance: Sequence[float] = REGRESSION_COMPLIANCE,
    input_node: int = 10,
    output_nodes: Sequence[int] = (12, 13),
) -> Task:
    """Figure 3 linear regression: a vertical force X on node 11 -> four outputs.

    As the authors' ``Regression/Learningspring2D.m``: X uniform in
    [-max_grams, max_grams] g weight (N; positive X pulls up, a hanging weight is
    X < 0), applied as F_y = X at paper node 11 (id 10); targets
    (u_x13, u_y13, u_x14, u_y14) = compliance * X with compliance
    (0, 0.016, 0.004, 0.016) m/N = (0, 16, 4, 16) mm/N; ``noise`` (mm) adds
    Gaussian noise to the targets (paper: 1e-4 m = 0.1 mm); 70/30 random split.

    Args:
        design: The lattice (ids must exist).
        noise: Target noise sigma (mm).
        seed: Seed of the data, noise and split generator.
        n_samples: Number of samples (100).
        train_fraction: Share of samples for training (round(n * f) of them).
        max_grams: Largest |X| as a mass in grams (20 g -> 0.196 N).
        compliance: Target du/dX (mm/N) for (x, y) of each output node in turn.
        input_node: Node the force hangs on.
        output_nodes: The two output nodes.
    """
    _check_nodes(design, [input_node], "input_node")
    _check_nodes(design, output_nodes, "output_nodes")
    dudx = np.asarray(compliance, dtype=float)
    if dudx.shape != (2 * len(output_nodes),):
        raise InputError("needs (x, y) per output node", field="compliance", value=dudx.tolist())
    if noise < 0:
        raise InputError("must be >= 0", field="noise", value=noise)
    rng = np.random.default_rng(seed)
    fmax = gram_force(max_grams)
    X = -fmax + 2.0 * fmax * rng.random(n_samples)
    y = X[:, None] * dudx[None, :]
    if noise > 0:
        y = y + noise * rng.standard_normal(y.shape)
    tr, te = split_indices(n_samples, train_fraction, rng)
    f = np.zeros((n_samples, design.n_nodes, 2))
    f[:, input_node, 1] = X
    outputs = tuple(Output(n, c) for n in output_nodes for c in (0, 1))
    return Task(
        name="regression-noisy" if noise > 0 else "regression",
        kind="mse",
        train_loads=f[tr],
        test_loads=f[te],
        outputs=outputs,
        train_targets=y[tr],
        test_targets=y[te],
        loss_si_scale=1e-6,
        info={
            "input": {"node": input_node, "direction": "y", "X_range_N": [-fmax, fmax]},
            "outputs": [list(o) for o in outputs],
            "compliance_mm_per_N": dudx.tolist(),
            "noise_mm": noise,
            "seed": seed,
            "n_samples": n_samples,
            "train_X_N": X[tr].tolist(),
            "test_X_N": X[te].tolist(),
        },
    )


# -------------------------------------------------------------------- Figure 4 task


def load_iris() -> tuple[np.ndarray, np.ndarray]:
    """Fisher's Iris data shipped with the package: (150, 4) features (cm), (150,) labels.

    Labels index :data:`IRIS_CLASSES`. The file's checksum is verified.
    """
    raw = resources.files("fem_mnn").joinpath("data/iris.csv").read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    if digest != IRIS_SHA256:
        raise InputError("checksum mismatch: the data file was changed", source="fem_mnn/data/iris.csv", value=digest)
    rows = list(csv.reader(raw.decode().splitlines()))
    header, body = rows[0], [r for r in rows[1:] if r]
    if tuple(header[:4]) != IRIS_FEATURES or header[4] != "species":
        raise InputError("unexpected header", source="fem_mnn/data/iris.csv", value=header)
    X = np.array([[float(v) for v in r[:4]] for r in body])
    y = np.array([IRIS_CLASSES.index(r[4]) for r in body])
    return X, y


def iris(
    design: Design,
    seed: int = 0,
    train_fraction: float = 0.7,
    grams: float = 5.0,
    input_nodes: Sequence[int] = (13, 11, 12, 9),
    output_nodes: Sequence[int] = (7, 1, 2),
    normalisation: str = "linear",
) -> Task:
    """Figure 4 Iris classification.

    As the authors' ``Classification/Learningspring2D.m``: each feature divided by
    its maximum over the data set, times 5 g weight, hung (downward, -y) at paper
    nodes 14, 12, 13, 10 (ids 13, 11, 12, 9) for sepal length, sepal width, petal
    length, petal width; outputs |u_x| of paper nodes 8, 2, 3 (ids 7, 1, 2) for
    setosa, versicolor, virginica; prediction = largest output; cross-entropy with
    p = |u| / sum |u|; random 70/30 split from ``seed`` (105 / 45 flowers).
    """
    _check_nodes(design, input_nodes, "input_nodes")
    _check_nodes(design, output_nodes, "output_nodes")
    if len(input_nodes) != 4 or len(output_nodes) != 3:
        raise InputError("needs 4 input and 3 output nodes", field="nodes", value=(len(input_nodes), len(output_nodes)))
    feats, labels = load_iris()
    forces = feats / feats.max(axis=0) * gram_force(grams)
    f = np.zeros((feats.shape[0], design.n_nodes, 2))
    f[:, list(input_nodes), 1] = -forces
    tr, te = split_indices(feats.shape[0], train_fraction, np.random.default_rng(seed))
    return Task(
        name="iris",
        kind="cross_entropy",
        train_loads=f[tr],
        test_loads=f[te],
        outputs=tuple(Output(n, 0) for n in output_nodes),
        train_labels=labels[tr],
        test_labels=labels[te],
        normalisation=normalisation,
        loss_si_scale=1.0,
        info={
            "inputs": dict(zip(IRIS_FEATURES, [int(i) for i in input_nodes], strict=True)),
            "outputs": dict(zip(IRIS_CLASSES, [int(i) for i in output_nodes], strict=True)),
            "grams_at_feature_max": grams,
            "seed": seed,
            "train_index": tr.tolist(),
            "test_index": te.tolist(),
        },
    )


def build_task(name: str, design: Design, seed: int = 0) -> Task:
    """A task by its CLI name (see :data:`TASK_NAMES`) with the paper's settings.

    Refuses a design that is not the paper's lattice (node count and positions): the
    tasks use the paper's node ids. :func:`fem_mnn.learn.taskfile.paper_task` reads the
    same tasks from their shipped task files (the same numbers).
    """
    if name in TASK_NAMES:
        check_paper_lattice(design, paper_sample().nodes, None, "li-mao-2024-sample")
    if name == "behaviour":
        return behaviour_mse(design)
    if name == "behaviour-ce":
        return behaviour_cross_entropy(design)
    if name == "regression":
        return regression(design, noise=0.0, seed=seed)
    if name == "regression-noisy":
        return regression(design, noise=0.1, seed=seed)
    if name == "iris":
        return iris(design, seed=seed)
    raise InputError(f"unknown task (choose from {', '.join(TASK_NAMES)})", field="--task", value=name)
