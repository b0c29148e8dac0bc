"""The supervisor's side of callflow, served by the ``callflow run`` process itself: a JSON
API, a live wallboard and Prometheus metrics, behind one token.

- :mod:`callflow.api.settings`: the ``api:`` settings (address, port, token).
- :mod:`callflow.api.auth`: the token check (``Authorization: Bearer``, constant time) and
  the wallboard's cookie, derived from the token.
- :mod:`callflow.api.views`: what the routes and the wallboard show, as plain data read off
  the queue's Router (no I/O).
- :mod:`callflow.api.routes`: the JSON routes (``/api/...``), documented in ``openapi.yaml``.
- :mod:`callflow.api.wallboard`: the wallboard page and its WebSocket, pushed on change.
- :mod:`callflow.api.metrics`: ``/metrics`` with ``prometheus_client``, and what feeds it
  (the event log as it is written, ARI connections, the event loop's lag).
- :mod:`callflow.api.server`: the aiohttp server that puts them together.

Errors: :class:`~callflow.api.settings.ApiSettingsError` (unusable settings, the app refuses
to start); a request's problems are answered as JSON with an HTTP status, never raised.
"""
