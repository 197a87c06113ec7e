"""Embedding models for dense retrieval: local (sentence-transformers) or over HTTP."""
