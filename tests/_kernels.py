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
KERNELS = ("Haswell", "Sandybridge", "Nehalem", "Prescott")


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
    for kernel in KERNELS:
        t0 = time.perf_counter()
        res = _run(name, kernel)
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
    moved = [k for k in keys if spread[k]["rel"] > 1e-9]  # the pin of the same-kernel comparison
    print(f"wrote {path}: {len(moved)} of {len(keys)} headline keys move across {len(KERNELS)} kernels")


if __name__ == "__main__":
    main(*sys.argv[1:])
