"""Measure how a study's quick headline moves with the BLAS kernel: ``python tests/_kernels.py [STUDY]``.

OpenBLAS picks its kernels per processor (``OPENBLAS_CORETYPE`` overrides the choice). Two
kernels round differently, and a long training run amplifies rounding: the tolerance study's
trained designs, and every number computed from them, differ from one kernel to another
(``docs/reliability.md``, "Another BLAS kernel"). A pin of such a number is a comparison of a
computation with itself only on the kernel that made it. This script runs the study's quick
``compute`` in a one-thread child under each kernel that runs on this processor and writes
``studies/results/<STUDY>/quick/kernels.json``: per kernel, the headline and the trained widths,
plus, per key, the spread across kernels. ``tests/test_studies_results.py`` compares a run with
the record of its own kernel, and reports the spread; ``docs/reliability.md`` quotes it.

``python tests/_kernels.py tolerance-spring-full`` does the same for the study's spring-trained designs
at full size (``studies/results/tolerance/kernels_spring_full.json``).

Maintainers' tool (minutes; not run by the tests). The kernels are those of OpenBLAS's
DYNAMIC_ARCH build that need at most AVX2 (an AVX-512 kernel on a processor without it would die
of an illegal instruction), so it runs on every machine of this kind.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from _studies import _CHILD, STUDIES, study  # noqa: E402

#: kernels of OpenBLAS's x86-64 DYNAMIC_ARCH build needing at most AVX2 (FMA3), newest first (Zen runs the
#: Haswell kernels: OpenBLAS reports Haswell for OPENBLAS_CORETYPE=Zen, so it is not a kernel of its own)
KERNELS = ("Haswell", "Sandybridge", "Nehalem")
#: OPENBLAS_CORETYPE=Prescott reports "Katmai" here; the three above cover AVX2, AVX and SSE4.2 kernels


def _run(name: str, kernel: str) -> dict:
    code = _CHILD.format(studies=str(STUDIES), path=str(STUDIES / f"{name}.py"), data=None)
    env = dict(
        os.environ,
        OMP_NUM_THREADS="1",
        OPENBLAS_NUM_THREADS="1",
        MKL_NUM_THREADS="1",
        FEM_MNN_WORKERS="1",
        OPENBLAS_CORETYPE=kernel,
    )
    probe = "from fem_mnn.core.provenance import blas_kernels; import json; print(json.dumps(blas_kernels()))"
    got = json.loads(subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env).stdout)
    if set(got.values()) != {kernel}:  # OpenBLAS fell back (unknown name): not the kernel asked for
        raise SystemExit(f"OPENBLAS_CORETYPE={kernel} gave {got}")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=1800)
    if proc.returncode != 0:
        raise SystemExit(f"{name} under {kernel} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout)


def _widths(results: dict) -> dict[str, list[float]]:
    return {
        f"{task}_{which}": row[which]["widths"]
        for task, row in results["tasks"].items()
        for which in row
        if isinstance(row[which], dict) and "widths" in row[which]
    }


def main(name: str = "tolerance") -> None:
    mod = study(name)
    per_kernel: dict[str, dict] = {}
    from fem_mnn.core.provenance import git_state

    # keyed by the commit: a run of other code is never reused
    cache = Path(os.environ.get("TMPDIR", "/tmp")) / f"fem_mnn_kernels_{name}_{git_state()['commit']}"
    cache.mkdir(exist_ok=True)
    for kernel in KERNELS:
        t0 = time.perf_counter()
        done = cache / f"{kernel}.json"  # a run per kernel is minutes: kept until the record is written
        if done.exists():
            res = json.loads(done.read_text())
        else:
            res = _run(name, kernel)
            done.write_text(json.dumps(res))
        per_kernel[kernel] = {"headline": mod.headline(res), "widths": _widths(res)}
        print(f"{name} under {kernel}: {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    keys = sorted(per_kernel[KERNELS[0]]["headline"])
    spread = {}
    for k in keys:
        vals = [per_kernel[c]["headline"][k] for c in KERNELS]
        lo, hi = min(vals), max(vals)
        spread[k] = {"min": lo, "max": hi, "rel": (hi - lo) / max(abs(hi), abs(lo), 1e-300), "n_values": len(set(vals))}
    widths_spread = {}
    for d in per_kernel[KERNELS[0]]["widths"]:
        ref = per_kernel[KERNELS[0]]["widths"][d]
        widths_spread[d] = max(
            max(abs(a - b) for a, b in zip(per_kernel[c]["widths"][d], ref, strict=True)) for c in KERNELS
        )
    from fem_mnn.core.provenance import provenance

    out = {
        "study": name,
        "kernels": list(KERNELS),
        "per_kernel": per_kernel,
        "spread": spread,
        "max_width_difference_mm": widths_spread,
        "provenance": provenance(),
    }
    path = STUDIES / "results" / name / "quick" / "kernels.json"
    path.write_text(json.dumps(out, indent=1) + "\n")
    for kernel in KERNELS:
        (cache / f"{kernel}.json").unlink()
    moved = [k for k in keys if spread[k]["rel"] > 1e-9]  # the pin of the same-kernel comparison
    print(f"wrote {path}: {len(moved)} of {len(keys)} headline keys move across {len(KERNELS)} kernels")


_ROBUST_CHILD = """
import importlib.util, json, sys
import numpy as np
sys.path.insert(0, {studies!r})
spec = importlib.util.spec_from_file_location("study", {path!r})
mod = importlib.util.module_from_spec(spec)
sys.modules["study"] = mod
spec.loader.exec_module(mod)
from fem_mnn.design.builders import paper_sample
from fem_mnn.learn.taskfile import paper_task
p = mod.plan(False)
out = {{}}
for name, (epochs, _, crit) in mod.TASKS.items():
    task = paper_task(name, paper_sample())
    row = {{}}
    for which in ("nominal", "robust") + (("robust_warm",) if name in mod.LONGER_TASKS else ()):
        w0 = np.array(row["nominal"]["widths"]) if which == "robust_warm" else None
        w, _, _ = mod._train_spring(task, name, epochs, which.startswith("robust"), p["robust_k"], w0)
        rec = {{"widths": w.tolist()}}
        mod._spring_rows(paper_sample().with_widths(w), name, p["n_samples"], crit, rec)
        row[which] = rec
    out[name] = {{w: {{"p_success_S0.1": r["S0.1_own"]["p_success"], "metric_nominal": r["S0.1_own"]["metric_nominal"],
                      "widths": r["widths"]}} for w, r in row.items()}}
sys.stdout.write(json.dumps(out))
"""


def robust_full() -> None:
    """The tolerance study's spring designs at full size (its epochs, K, 1000 samples) under each kernel.

    Writes ``studies/results/tolerance/kernels_spring_full.json``: p_success at S = 0.1 mm and the
    nominal metric of the nominal and tolerance-aware designs, per kernel (minutes per kernel; the
    FE rows of the full study are left out).
    """
    from fem_mnn.core.provenance import provenance

    code = _ROBUST_CHILD.format(studies=str(STUDIES), path=str(STUDIES / "tolerance.py"))
    per_kernel = {}
    for kernel in KERNELS:
        t0 = time.perf_counter()
        env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", OPENBLAS_CORETYPE=kernel)
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=7200)
        if proc.returncode != 0:
            raise SystemExit(f"under {kernel}:\n{proc.stderr[-3000:]}")
        per_kernel[kernel] = json.loads(proc.stdout)
        print(f"spring designs, full size, under {kernel}: {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    path = STUDIES / "results" / "tolerance" / "kernels_spring_full.json"
    path.write_text(
        json.dumps({"kernels": list(KERNELS), "per_kernel": per_kernel, "provenance": provenance()}, indent=1)
    )
    for task, row in per_kernel[KERNELS[0]].items():
        for which in row:
            ps = [per_kernel[k][task][which]["p_success_S0.1"] for k in KERNELS]
            print(
                f"{task} {which}: p_success(S=0.1) "
                + ", ".join(f"{k} {p:.3f}" for k, p in zip(KERNELS, ps, strict=True))
            )
    print(f"wrote {path}")


if __name__ == "__main__":
    if sys.argv[1:] == ["tolerance-spring-full"]:
        robust_full()
    else:
        main(*sys.argv[1:])
