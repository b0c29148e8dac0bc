"""The IVR engine: runs each call through its YAML flow over ARI, with hot reload."""

from callflow.engine.registry import FlowRegistry, ReloadResult
from callflow.engine.runner import FlowRunner

__all__ = ["FlowRegistry", "FlowRunner", "ReloadResult"]
