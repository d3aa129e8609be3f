"""Ctrl-C and SIGTERM stop a command that has no safe points of its own: exit 130, one line, nothing written.

Training and ``validate`` poll a stop request at their safe points (``test_taskfile``,
``test_validate_budget``). Every other command relies on :func:`fem_mnn.cli.main` turning SIGTERM
into what Ctrl-C already is, a ``KeyboardInterrupt``: before, once ``import dolfinx`` had
initialised PETSc, a SIGTERM reached PETSc's own handler, which printed a "PETSC ERROR" banner
and called ``MPI_Abort`` (exit 59).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest
from conftest import child_env, cli_command, need_dolfinx, run_python

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX signals")


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_sigterm_after_importing_dolfinx_is_a_keyboard_interrupt():
    need_dolfinx()
    code = """
import os, signal, sys, time
from fem_mnn.core.signals import terminate_as_interrupt
from fem_mnn.fem._dolfinx import import_dolfinx
with terminate_as_interrupt():
    import_dolfinx()
    from petsc4py import PETSc
    PETSc.Vec().createSeq(2).destroy()
    try:
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)
        print("not interrupted")
    except KeyboardInterrupt:
        print("KeyboardInterrupt")
print(signal.getsignal(signal.SIGTERM) is signal.SIG_DFL)
"""
    r = run_python("-c", code, timeout=120)
    assert r.returncode == 0, r.stderr
    # the handler is gone after the block (the default action is back), PETSc's banner never printed
    assert r.stdout.split() == ["KeyboardInterrupt", "True"], r.stdout + r.stderr
    assert "PETSC ERROR" not in r.stderr


def test_library_use_keeps_the_default_sigterm():
    # import_dolfinx re-arms Python handlers only: a program that set none keeps what it had
    need_dolfinx()
    code = (
        "import signal; from fem_mnn.fem._dolfinx import import_dolfinx; import_dolfinx();"
        "print(signal.getsignal(signal.SIGTERM) is signal.SIG_DFL)"
    )
    r = run_python("-c", code, timeout=120)
    assert r.returncode == 0 and r.stdout.split() == ["True"], r.stdout + r.stderr


@pytest.mark.fem
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_stops_fem_tolerance_sampling(paper_file, tmp_path, sig):
    need_dolfinx()
    out = tmp_path / "tol.json"
    argv = ["tolerance", paper_file, "--task", "behaviour", "--model", "fem", "--degree", "1",
            "--elements-across", "1", "--samples", "100000", "--out", out]  # fmt: skip
    # SIGINT as a terminal delivers it: a job started in the background of a non-interactive shell (as CI
    # may run the suite) inherits SIGINT ignored, and Python keeps it ignored (POSIX's rule for background jobs)
    proc = subprocess.Popen(cli_command(*argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=child_env(), preexec_fn=_default_sigint)  # fmt: skip
    before = []
    try:
        for line in proc.stderr:  # the first progress line comes a second into the sampling
            before.append(line)
            if "samples done on this rank" in line:
                break
        else:
            pytest.fail(f"no progress line before the end (rc {proc.wait()}): {''.join(before)}")
        proc.send_signal(sig)
        _, rest = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, "".join(before) + rest
    assert rest.strip().splitlines()[-1] == "fem-mnn: interrupted" and "Traceback" not in rest, rest
    assert "PETSC ERROR" not in rest
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no result, no figure, no temporary file
    sys.stderr.write("".join(before))
