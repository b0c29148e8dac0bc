"""Diagnostics of flow files: the shared style of :mod:`callflow.yamlcheck.diagnostics`."""

from __future__ import annotations

from callflow.yamlcheck.diagnostics import Diagnostic, Location, Severity, nearest, sort_key

__all__ = ["Diagnostic", "Location", "Severity", "nearest", "sort_key"]
