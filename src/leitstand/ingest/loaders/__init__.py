"""Built-in loaders for txt, md, html, pdf, docx, csv and eml files."""

from leitstand.ingest.loaders.base import Block, LoadContext, LoadedDocument, Loader, LoadError

__all__ = ["Block", "LoadContext", "LoadError", "LoadedDocument", "Loader"]
