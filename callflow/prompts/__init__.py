"""Prompts from text: render ``say:`` prompts to audio Asterisk can play, cached by content."""

from callflow.prompts.build import BuildReport, PromptError, build_prompts, missing_prompts

__all__ = ["BuildReport", "PromptError", "build_prompts", "missing_prompts"]
