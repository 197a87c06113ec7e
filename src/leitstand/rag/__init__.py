"""Answering: sources in, an answer with numbered citations out."""
