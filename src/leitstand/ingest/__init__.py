"""Ingestion: files become documents, chunks and index entries."""
