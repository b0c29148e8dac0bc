"""The IVR engine: runs each call through its YAML flow over ARI, with hot reload."""

from callflow.ivr.registry import FlowRegistry, ReloadResult
from callflow.ivr.runner import FlowRunner

__all__ = ["FlowRegistry", "FlowRunner", "ReloadResult"]
