"""pytest plugin for ``tests/_mutation.py`` (loaded with ``-p _mutation_contexts``, never by default).

Under ``coverage run`` it labels every line executed by a test (setup, call and teardown)
with that test's node id, so that a mutant can be run against exactly the tests that execute
its line; and it records every test's outcome and duration (a failing test cannot kill a
mutant, and the durations set the timeouts).
"""

from __future__ import annotations

import json
import os

import coverage
import pytest

_outcomes: dict[str, dict] = {"failed": [], "durations": {}}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):  # noqa: ARG001 (pytest's signature)
    cov = coverage.Coverage.current()
    if cov is not None:
        cov.switch_context(item.nodeid)
    yield
    if cov is not None:
        cov.switch_context("")


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    d = _outcomes["durations"]
    d[report.nodeid] = d.get(report.nodeid, 0.0) + report.duration
    if report.failed:
        _outcomes["failed"].append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session) -> None:  # noqa: ARG001
    path = os.environ.get("FEM_MNN_MUTATION_OUTCOMES")
    if path:
        with open(path, "w") as f:
            json.dump(_outcomes, f, indent=1)
