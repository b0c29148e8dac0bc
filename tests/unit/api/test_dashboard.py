"""The Grafana dashboard in docker/grafana reads only metrics callflow serves, and says which
in every panel."""

from __future__ import annotations

import json
import re
from pathlib import Path

from callflow.api.metrics import METRICS

DASHBOARD = Path(__file__).parents[3] / "docker" / "grafana" / "callflow.json"
SUFFIXES = ("_bucket", "_count", "_sum")


def test_every_query_names_a_metric_callflow_serves() -> None:
    """Each panel's queries use callflow_* names from METRICS (histograms' series too), and
    each panel has a description."""
    dashboard = json.loads(DASHBOARD.read_text())
    known = set(METRICS)
    used = set()
    for panel in dashboard["panels"]:
        assert panel["description"], panel["title"]
        for target in panel["targets"]:
            used |= set(re.findall(r"callflow_[a-z_]+", target["expr"]))
    unknown = {
        name
        for name in used
        if name not in known and not any(name.removesuffix(s) in known for s in SUFFIXES)
    }
    assert not unknown
    assert {name.removesuffix("_bucket") for name in used} >= {
        "callflow_queue_callers_waiting",
        "callflow_queue_longest_wait_seconds",
        "callflow_agents",
        "callflow_calls_total",
        "callflow_ari_connections_total",
        "callflow_event_loop_lag_seconds",
        "callflow_event_loop_delay_seconds",
        "callflow_callbacks_live",
    }
