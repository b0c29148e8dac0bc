"""Callbacks ("virtual hold"): the caller keeps their place in line, hangs up, and callflow
calls them back. The decisions only, sans-I/O: the number a callback may dial
(:mod:`~callflow.callback.number`), the callback as a value (:mod:`~callflow.callback.model`),
its state machine, calling windows and the opening planner
(:mod:`~callflow.callback.machine`)."""
