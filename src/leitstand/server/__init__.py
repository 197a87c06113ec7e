"""The HTTP server: an OpenAI-compatible API and a web page, over :class:`leitstand.Leitstand`."""
