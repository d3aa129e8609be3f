"""Plumbing shared by the studies: BLAS threads, the paper's data folder, the command line.

Every study module has the same shape:

* ``compute(quick, data_dir=None) -> dict``: numbers only (JSON-able), no files,
  no plots; the same inputs give the same numbers.
* ``render(results, out) -> None``: the tables, the numbers the prose quotes, the
  verdicts that choose its wording and the figures (matplotlib's object API);
  :func:`write_report` writes ``results.md`` from ``studies/templates/<name>.md``
  and ``results.json`` (with a ``provenance`` block) in ``out``.
* ``headline(results) -> dict[str, float]``: the few numbers the tests assert
  and compare with the committed quick results.
* ``main(argv)``: ``--quick --data --out --rerender``; calls :func:`study_main`.

A study imports this module first: importing it pins the BLAS threads (before
numpy is loaded, see :data:`BLAS_THREAD_VARIABLES`); :func:`study_main` pins them
again with threadpoolctl when that is installed. ``python studies/<name>.py`` puts
``studies/`` on ``sys.path`` (the script's folder), and the package is installed.

Full runs write ``studies/results/<name>/``; quick runs default to
``studies/results/<name>/quick/`` so that they never overwrite the full results.

Literate studies: the prose is a template, the numbers come from ``render``
-------------------------------------------------------------------------------
Every study's words live in ``studies/templates/<name>.md``: the page as the site shows
it (``results.md``), title, paragraphs, conclusions, table captions and figure captions, with
``{placeholders}`` where numbers and tables go. ``render`` computes a flat dict of values
(numbers, which the template formats, ``{E_fem:.4f}``; or Markdown tables from :func:`table`),
a small dict of boolean verdicts computed from the numbers, saves its figures with
:func:`save_figure`, and calls :func:`write_report`. A wording that depends on the result is
written out in the template, both ways, and the verdict picks one (blocks nest; a marker alone
on its line takes its line break)::

    <!-- if fem_better -->the FE model<!-- else -->the spring model<!-- end --> predicts better

A paragraph two pages share is a fragment, ``studies/templates/<name>.<part>.md``, that the
study fills with :func:`fill_template` and passes as a value (printed_sample's verdict, also
written into ``docs/forecast.md``). ``render`` holds no sentence: ``tests/test_studies_literate.py``
fails on a string of more than 12 words, or a function over 60 lines, in what ``render`` reaches.

Why a template file rather than Markdown cells in the study's ``.py`` (jupytext percent
format): what a reader sees is ``results.md``, and the template *is* that page with holes, so
it reads (and previews, and diffs) as the page; the study file stays the method, whose module
docstring is the one description of what is computed. Conclusions have to change with the
numbers (quick vs full, a rerun after a fix), so they cannot be fixed cells anyway; writing the
alternatives in the template and choosing by a verdict keeps every sentence in one place and
every number computed. :func:`write_report` refuses a placeholder without a value, a value no
placeholder uses, a verdict that is not a bool or is never asked, and a figure the page shows
that ``render`` did not save: a stale template fails at render time, in the tests.

Re-rendering: ``render`` of a ``results.json`` read back (it has ``meta`` and ``provenance``)
keeps that ``meta`` and ``provenance`` in both files, so the header of ``results.md`` still names
the command and commit that computed the numbers (``python studies/<name>.py --rerender``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shlex
import string
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

#: Environment variables that limit the BLAS/OpenMP thread pools (set before numpy loads).
BLAS_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
for _v in BLAS_THREAD_VARIABLES:  # at import: a study imports this module before numpy
    os.environ.setdefault(_v, "1")

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "studies" / "results"
#: The prose of the literate studies: ``studies/templates/<name>.md`` (see the module docstring).
TEMPLATES = ROOT / "studies" / "templates"

__all__ = [
    "BLAS_THREAD_VARIABLES",
    "RESULTS",
    "TEMPLATES",
    "close",
    "fill_template",
    "figure",
    "log",
    "paper_data_dir",
    "pin_blas_threads",
    "quick_results_path",
    "save_figure",
    "study_main",
    "table",
    "template_fields",
    "template_names",
    "write_report",
]


def pin_blas_threads() -> None:
    """One BLAS thread per process (a study shares the machine with other runs).

    Sets the environment variables (effective only before numpy is imported, and
    for child processes) unless the user set them, and limits the pools already
    loaded with threadpoolctl when it is installed.
    """
    for var in BLAS_THREAD_VARIABLES:
        os.environ.setdefault(var, "1")
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return
    threadpool_limits(int(os.environ["OMP_NUM_THREADS"]))


def log(name: str, msg: str) -> None:
    """Progress line on stderr."""
    print(f"[{name}] {msg}", file=sys.stderr, flush=True)


def paper_data_dir(data_dir: str | Path | None) -> Path | None:
    """The paper's data folder: the argument, else ``$FEM_MNN_PAPER_DATA``, else None (the package default)."""
    if data_dir is not None:
        return Path(data_dir)
    env = os.environ.get("FEM_MNN_PAPER_DATA")
    return Path(env) if env else None


def figure(*size: float) -> Any:
    """A matplotlib Figure that is not registered with pyplot (no global backend or state)."""
    from matplotlib.figure import Figure

    return Figure(figsize=size or None)


def close(fig: Any) -> None:
    """Release a figure if pyplot manages it; a no-op for the object-API figures the package and studies make."""
    plt = sys.modules.get("matplotlib.pyplot")
    if plt is not None:
        plt.close(fig)


def quick_results_path(name: str) -> Path:
    """The committed quick results of study ``name``."""
    return RESULTS / name / "quick" / "results.json"


def study_main(
    name: str,
    doc: str,
    compute: Callable[..., dict[str, Any]],
    render: Callable[[dict[str, Any], Path], None],
    argv: Sequence[str] | None = None,
    quick_help: str = "a smoke version (seconds to a minute)",
    extra: Callable[[argparse.ArgumentParser], None] | None = None,
    takes_data: bool = True,
) -> int:
    """Command line of a study: ``[--quick] [--data DIR] [--out DIR]``; compute, then render.

    ``extra`` may add options; they are passed to ``compute`` as keyword arguments.
    Bad input (a missing data folder...) ends with one line on stderr and exit
    code 2, before anything is written.
    """
    from fem_mnn.core.errors import InputError

    pin_blas_threads()
    p = argparse.ArgumentParser(description=doc.strip().split("\n")[0])
    p.add_argument("--quick", action="store_true", help=quick_help)
    if takes_data:
        p.add_argument(
            "--data",
            type=Path,
            default=None,
            help="folder of the paper's data (default $FEM_MNN_PAPER_DATA, else the copy shipped in the package)",
        )
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help=f"output folder (default studies/results/{name}, or studies/results/{name}/quick with --quick)",
    )
    p.add_argument(
        "--rerender",
        action="store_true",
        help="no compute: write results.md and the figures again from the results.json in the output folder "
        "(its provenance, the run that computed the numbers, is kept)",
    )
    if extra is not None:
        extra(p)
    a = vars(p.parse_args(argv))
    quick, out, rerender = a.pop("quick"), a.pop("out"), a.pop("rerender")
    if out is None:
        out = RESULTS / name / "quick" if quick else RESULTS / name
    if rerender:
        path = Path(out) / "results.json"
        if not path.is_file():
            print(f"error: --rerender needs {path} (run the study first)", file=sys.stderr)
            return 2
        render(json.loads(path.read_text()), Path(out))
        log(name, f"re-rendered {out} from its results.json")
        return 0
    kwargs = {k: v for k, v in a.items() if k != "data"}
    if takes_data:
        kwargs["data_dir"] = a["data"]
    t0 = time.perf_counter()
    try:
        results = compute(quick, **kwargs)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    compute_s = time.perf_counter() - t0
    results.setdefault("timing", {})["compute_s"] = round(compute_s, 3)
    # render sees the results as results.json gives them back, so that --rerender writes the same page
    from fem_mnn.core.files import to_jsonable

    render(json.loads(json.dumps(to_jsonable(results))), out)
    log(name, f"computed in {compute_s:.1f} s, wrote {out}")
    return 0


_MARKER = r"<!-- (?:if (?:not )?\w+|else|end) -->"
#: an innermost block (no ``<!-- if`` inside): blocks nest, the inner ones are chosen first
_BLOCK = re.compile(
    r"<!-- if (not )?(\w+) -->((?:(?!<!-- if ).)*?)(?:<!-- else -->((?:(?!<!-- if ).)*?))?<!-- end -->", re.S
)
_IMAGE = re.compile(r"!\[[^\]]*\]\(([^)\s]+)\)")


def template_names() -> list[str]:
    """The studies whose prose is a template (``studies/templates/<name>.md``), sorted.

    ``<name>.<part>.md`` is a fragment a study fills itself with :func:`fill_template` (a paragraph
    two pages share, as printed_sample's verdict): not a study.
    """
    return sorted(p.stem for p in TEMPLATES.glob("*.md") if "." not in p.stem)


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table for a template placeholder (no trailing newline: the template spaces the page)."""
    from fem_mnn.io.report import markdown_table

    return markdown_table(header, rows).rstrip("\n")


def save_figure(fig: Any, out: Path, filename: str, dpi: int = 150) -> Path:
    """Save a figure as ``out/filename`` (atomically; the template shows it with ``![caption](filename)``)."""
    from fem_mnn.core.files import atomic_savefig

    out.mkdir(parents=True, exist_ok=True)
    path = atomic_savefig(fig, out / filename, dpi=dpi, bbox_inches="tight")
    close(fig)
    return path


def template_fields(text: str) -> set[str]:
    """The placeholder names of a template, in every branch of its ``<!-- if -->`` blocks."""
    fields = set()
    for _, field, spec, _ in string.Formatter().parse(text):
        if field is None:
            continue
        if not field.isidentifier() or "{" in (spec or ""):
            raise ValueError(f"template placeholder {{{field}:{spec}}}: use a flat name and a plain format")
        fields.add(field)
    return fields


def fill_template(text: str, values: dict[str, Any], verdicts: dict[str, bool] | None = None) -> str:
    """Fill a study template: choose each ``<!-- if v -->..<!-- else -->..<!-- end -->`` by ``verdicts[v]``, then ``format_map``.

    A marker alone on its line takes its line break with it. Raises ``ValueError`` when the
    template and the values disagree: a placeholder without a value or a value without a
    placeholder (counted over all branches), a verdict that is not a bool, asked but not
    given, or given but never asked, an unclosed block. Blocks nest.
    """
    # a numpy bool (a comparison of numpy numbers) is a bool; a number is not
    verdicts = {
        k: v.item() if hasattr(v, "item") and not isinstance(v, bool) else v for k, v in (verdicts or {}).items()
    }
    problems = [f"verdict {k!r} is {v!r}, not a bool" for k, v in verdicts.items() if not isinstance(v, bool)]
    fields = template_fields(text)
    problems += [f"placeholder {{{k}}} has no value" for k in sorted(fields - set(values))]
    problems += [f"value {k!r} is used by no placeholder" for k in sorted(set(values) - fields)]
    text = re.sub(rf"^({_MARKER})\n", r"\1", text, flags=re.M)
    asked: set[str] = set()

    def choose(m: re.Match[str]) -> str:
        negate, key, yes, no = m.groups()
        asked.add(key)
        return yes if verdicts.get(key, False) != bool(negate) else (no or "")

    n = 1
    while n:
        text, n = _BLOCK.subn(choose, text)
    problems += [f"verdict {k!r} is asked but not given" for k in sorted(asked - set(verdicts))]
    problems += [f"verdict {k!r} is given but never asked" for k in sorted(set(verdicts) - asked)]
    if re.search(_MARKER, text):
        problems.append("an <!-- if --> block is not closed, or an else/end has no if")
    if problems:
        raise ValueError("study template: " + "; ".join(problems))
    return text.format_map(values)


def write_report(
    name: str,
    out: Path,
    results: dict[str, Any],
    values: dict[str, Any],
    verdicts: dict[str, bool] | None = None,
    started: float | None = None,
) -> Path:
    """Write ``out/results.md`` (``studies/templates/<name>.md`` filled) and ``out/results.json``; return ``out``.

    The header line under the template's title names the command and commit of the run: those
    of ``results["meta"]`` and ``results["provenance"]`` when ``results`` was read back from a
    ``results.json`` (a re-render), else this run's (``started``: when ``render`` began, for the
    wall time). Every figure the page shows must already be in ``out`` (:func:`save_figure`).
    """
    from fem_mnn.core.files import atomic_write_json, atomic_write_text
    from fem_mnn.core.provenance import provenance
    from fem_mnn.core.version import __version__

    out = Path(out)
    body = fill_template((TEMPLATES / f"{name}.md").read_text(), values, verdicts)
    title, _, rest = body.partition("\n")
    if not title.startswith("# "):
        raise ValueError(f"studies/templates/{name}.md: the first line is the page title (# ...)")
    missing = [f for f in _IMAGE.findall(rest) if not (out / f).is_file()]
    if missing:
        raise ValueError(f"studies/templates/{name}.md shows figures render did not save: {missing}")
    data = {k: v for k, v in results.items() if k not in ("meta", "provenance")}
    if "meta" in results and "provenance" in results:
        meta, prov = results["meta"], results["provenance"]
    else:
        meta = {
            "study": name,
            "package_version": __version__,
            "command": "python " + " ".join(shlex.quote(a) for a in sys.argv),
            "python": platform.python_version(),
            "wall_time_s": round(time.time() - (started or time.time()), 3),
        }
        prov = provenance()
    commit = (prov["commit"] or "no git checkout")[:12] + ("" if prov["clean"] in (True, None) else ", modified tree")
    # the compute's wall time (study_main's timing), not the render's (meta's wall_time_s: seconds)
    compute_s = data.get("timing", {}).get("compute_s")
    took = f", computed in {compute_s:.0f} s" if isinstance(compute_s, (int, float)) else ""
    header = f"{title}\n\nMade by `{meta['command']}` (fem_mnn {meta['package_version']}, commit {commit}{took}).\n\n"
    atomic_write_text(out / "results.md", header + rest.lstrip("\n"))
    atomic_write_json(out / "results.json", {"meta": meta, **data, "provenance": prov})
    return out


def sampled_curve(result: Any, keys: Sequence[str], points: int = 400) -> dict[str, list[float]]:
    """A training run's history at about ``points`` log-spaced epochs (for plots): ``epoch`` and ``keys``.

    ``result`` has ``series(key)`` (a :class:`~fem_mnn.learn.training.TrainResult`).
    """
    import numpy as np

    n = len(result.series("loss"))
    idx = np.unique(np.round(np.geomspace(1, max(n, 1), points)).astype(int)) - 1 if n else np.array([], int)
    out = {"epoch": (idx + 1).tolist()}
    for k in keys:
        out[k] = np.asarray(result.series(k))[idx].tolist()
    return out


def curves_figure(
    runs: Sequence[tuple[str, dict[str, list[float]]]],
    loss_key: str,
    metric_keys: Sequence[str] = (),
    loss_label: str = "loss",
    metric_label: str = "",
    paper: Sequence[tuple[str, Any, Any]] = (),
    title: str = "",
    logx: bool = False,
) -> Any:
    """Loss (log scale) and metrics against epoch, from :func:`sampled_curve` records (object API)."""
    n = 2 if metric_keys else 1
    fig = figure(6 * n, 4.2)
    axes = fig.subplots(1, n, squeeze=False)[0]
    ax = axes[0]
    for label, c in runs:
        ax.semilogy(c["epoch"], c[loss_key], label=label)
    styles = [("k", "--"), ("0.45", "--"), ("k", ":"), ("0.45", ":")]
    for i, (label, ep, val) in enumerate(paper):
        color, ls = styles[i % len(styles)]
        ax.semilogy(ep, val, ls, color=color, lw=1.2, label=label)
    ax.set_xlabel("epoch")
    ax.set_ylabel(loss_label)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    if metric_keys:
        ax2 = axes[1]
        for label, c in runs:
            for key in metric_keys:
                ax2.plot(c["epoch"], c[key], label=f"{label}: {key}" if len(metric_keys) > 1 else label)
        ax2.set_xlabel("epoch")
        ax2.set_ylabel(metric_label)
        ax2.grid(True, alpha=0.3)
        ax2.legend(fontsize=7)
    if logx:
        for a in axes:
            a.set_xscale("log")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
