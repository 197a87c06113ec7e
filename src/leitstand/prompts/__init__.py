"""Prompt templates, versioned by content hash."""

from leitstand.prompts.templates import LANGUAGE_NAMES, PromptTemplate, record_prompt

__all__ = ["LANGUAGE_NAMES", "PromptTemplate", "record_prompt"]
