"""Evaluations: retrieval quality on golden sets (BEIR format)."""
