"""Tracing: what happened in every request and ingestion run, stage by stage."""

from leitstand.trace.recorder import ActiveTrace, SpanRecord, Tracer

__all__ = ["ActiveTrace", "SpanRecord", "Tracer"]
