"""The report as a PNG chart: calls offered, answered and abandoned per interval as bars,
the service level as a line on a second axis (matplotlib, the optional ``report`` extra).

Returns the PNG's bytes; writing them is the caller's business. matplotlib is imported
when a chart is asked for, with its non-interactive Agg back end, so that ``callflow``
starts without it and no display is ever needed.
"""

from __future__ import annotations

import datetime as dt
import io

from callflow.kpi.report import ALL, Report


class ChartUnavailable(Exception):
    """matplotlib is not installed (``pip install 'callflow[report]'``)."""


def render_png(report: Report, tz: dt.tzinfo = dt.UTC, *, width: float = 10.0) -> bytes:
    """One chart of the report's queue (or all queues): bars per interval, SL line."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.ticker import PercentFormatter
    except ImportError as exc:
        raise ChartUnavailable(
            "the chart needs matplotlib: pip install 'callflow[report]'"
        ) from exc
    rows = report.intervals(report.queue or ALL)
    fmt = "%m-%d" if report.interval == "1d" else "%m-%d %H:%M"
    labels = [r.start.astimezone(tz).strftime(fmt) for r in rows]
    offered = [r.figures.offered for r in rows]
    answered = [r.figures.handled for r in rows]
    abandoned = [r.figures.abandoned - r.figures.short_abandons for r in rows]
    level = [r.figures.sl for r in rows]
    x = list(range(len(rows)))
    bar = 0.27
    figure, calls = plt.subplots(figsize=(width, 4.8), dpi=100)
    try:
        calls.bar([i - bar for i in x], offered, bar, label="offered", color="#7f8c8d")
        calls.bar(x, answered, bar, label="answered", color="#2e86c1")
        calls.bar([i + bar for i in x], abandoned, bar, label="abandoned", color="#e67e22")
        calls.set_ylabel("calls")
        step = max(1, len(x) // 16)
        calls.set_xticks(x[::step], labels[::step], rotation=45, ha="right", fontsize=8)
        service = calls.twinx()
        points = [(i, v) for i, v in zip(x, level, strict=True) if v is not None]
        if points:
            service.plot(
                [p[0] for p in points],
                [p[1] for p in points],
                color="#27ae60",
                marker="o",
                label=f"SL ({report.rules.service_level:g} s)",
            )
        service.set_ylim(0, 1.05)
        service.yaxis.set_major_formatter(PercentFormatter(1.0))
        service.set_ylabel("service level")
        handles, names = calls.get_legend_handles_labels()
        more, more_names = service.get_legend_handles_labels()
        calls.legend(handles + more, names + more_names, loc="upper left", fontsize=8)
        where = f"queue {report.queue}" if report.queue else "all queues"
        calls.set_title(
            f"{where}, {report.start.astimezone(tz):%Y-%m-%d %H:%M} to "
            f"{report.end.astimezone(tz):%Y-%m-%d %H:%M} "
            f"(abandoned: after {report.rules.short_abandon:g} s)"
        )
        figure.tight_layout()
        out = io.BytesIO()
        figure.savefig(out, format="png")
        return out.getvalue()
    finally:
        plt.close(figure)
