"""Chat models reached over HTTP."""
