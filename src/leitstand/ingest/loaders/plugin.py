"""The built-in loaders, registered the same way a third-party plugin registers its own."""

from __future__ import annotations

from collections.abc import Callable

from leitstand.ingest.loaders.base import Loader
from leitstand.ingest.loaders.csv import CsvLoader
from leitstand.ingest.loaders.docx import DocxLoader
from leitstand.ingest.loaders.email import EmailLoader
from leitstand.ingest.loaders.html import HtmlLoader
from leitstand.ingest.loaders.markdown import MarkdownLoader
from leitstand.ingest.loaders.pdf import PdfLoader
from leitstand.ingest.loaders.text import TextLoader
from leitstand.plugins.hookspecs import hookimpl


@hookimpl
def register_loaders(register: Callable[[Loader], None]) -> None:
    register(TextLoader())
    register(MarkdownLoader())
    register(HtmlLoader())
    register(PdfLoader())
    register(DocxLoader())
    register(CsvLoader())
    register(EmailLoader())
