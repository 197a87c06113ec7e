"""Text handling shared by ingestion and search: normalisation, sentences, language."""
