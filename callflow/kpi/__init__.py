"""Contact-centre KPIs from the event log, as pure code: abandonment, service level, ASA,
AHT, occupancy, callbacks, repeat callers and first-call resolution, per queue, per agent and
per interval (15 minutes, an hour, a day), with the time passed in.

- :mod:`callflow.kpi.log`: the events read into facts (queue visits and how each ended,
  agent states, callbacks, calls, survey answers); the event kinds and fields it expects.
- :mod:`callflow.kpi.figures`: the formulas and every counting rule (what is an abandon,
  what is offered, which service level is the default and why).
- :mod:`callflow.kpi.intervals`: 15-minute, hour and day intervals on a time zone's clock.
- :mod:`callflow.kpi.report`: a report over a range, as tables, CSV or JSON.
- :mod:`callflow.kpi.chart`: the report as a PNG chart (matplotlib, optional).
- :mod:`callflow.kpi.cli`: ``callflow report``.
"""

from callflow.kpi.figures import AgentFigures, QueueFigures, Rules
from callflow.kpi.log import Facts, read_log
from callflow.kpi.report import Report, build_report, render_csv, render_table

__all__ = [
    "AgentFigures",
    "Facts",
    "QueueFigures",
    "Report",
    "Rules",
    "build_report",
    "read_log",
    "render_csv",
    "render_table",
]
