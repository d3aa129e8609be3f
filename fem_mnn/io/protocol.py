"""Load protocols in: the time history of hanging weights, as a documented CSV.

**Protocol** (``time_s,event,load_case``; comma separated, one header row, UTF-8, ``#`` lines are comments)
    One row per event, in time order (times in s, non-decreasing; events of equal time
    take effect in their listed order). ``event`` is

    * ``apply``: adds one application of the load case ``load_case`` (a label of the
      loads CSV) at ``time_s``;
    * ``remove``: removes one application of it (an error if none is applied);
    * ``measure``: records every node's displacement at ``time_s``; its ``load_case``
      is a free label naming the measurement (e.g. ``m04g``).

    Example: a staircase of two 2 g weights, each photographed after 60 s::

        time_s,event,load_case
        0,apply,w2g
        60,measure,m02g
        60,apply,w2g
        120,measure,m04g

The displacement history this implies for a linear viscoelastic material is computed by
:func:`fem_mnn.design.viscoelastic.protocol_response`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from fem_mnn.core.errors import InputError
from fem_mnn.design.viscoelastic import EVENTS, ProtocolEvent
from fem_mnn.io.measured import _float, _fmt, _label, _rows, _write

__all__ = ["PROTOCOL_COLUMNS", "read_protocol", "write_protocol"]

#: The columns of a protocol CSV, in order.
PROTOCOL_COLUMNS = ("time_s", "event", "load_case")


def read_protocol(path: str | Path, cases: Sequence[str] | None = None) -> list[ProtocolEvent]:
    """Read a protocol CSV (format in the module docstring).

    Args:
        path: The CSV file.
        cases: The load cases of the loads file (None: not checked here).

    Raises:
        InputError: naming the file, the row (1-based line), the column and the value: an
            unknown event, a time that goes back, a removal of a load case not applied, a
            load case the loads do not have, or no ``measure`` row.
    """
    src = str(path)
    out: list[ProtocolEvent] = []
    applied: dict[str, int] = {}
    last = None
    for lineno, c in _rows(path, PROTOCOL_COLUMNS):
        t = _float(c[0], src, lineno, "time_s")
        if last is not None and t < last[0]:
            raise InputError(
                f"time goes back (row {last[1]} is at {last[0]:g} s; rows must be in time order)",
                source=src,
                field=f"row {lineno}, time_s",
                value=c[0],
            )
        last = (t, lineno)
        event = c[1].lower()
        if event not in EVENTS:
            raise InputError(
                f"event must be one of {', '.join(EVENTS)}", source=src, field=f"row {lineno}, event", value=c[1]
            )
        lab = _label(c[2], src, lineno)
        if event != "measure":
            if cases is not None and lab not in cases:
                raise InputError(
                    f"unknown load case (the loads file has {', '.join(cases)})",
                    source=src,
                    field=f"row {lineno}, load_case",
                    value=lab,
                )
            n = applied.get(lab, 0)
            if event == "remove" and n == 0:
                raise InputError(
                    "removes a load case that is not applied at this time",
                    source=src,
                    field=f"row {lineno}, load_case",
                    value=lab,
                )
            applied[lab] = n + (1 if event == "apply" else -1)
        out.append(ProtocolEvent(t, event, lab))
    if not any(ev.event == "measure" for ev in out):
        raise InputError("no measure row: the protocol would record nothing", source=src)
    return out


def write_protocol(path: str | Path, events: Sequence[ProtocolEvent], comment: str = "") -> Path:
    """Write a protocol CSV atomically (``comment`` lines first, prefixed ``#``)."""
    return _write(path, PROTOCOL_COLUMNS, [[_fmt(e.time_s), e.event, e.load_case] for e in events], comment)
