"""Test doubles that users of leitstand can use in their own tests too.

:class:`ScriptedChatServer` is a real OpenAI-compatible HTTP server (JSON and SSE streaming)
that answers from a script instead of a model. Run it on its own with
``python -m leitstand.testing.scripted_server --reply "text"``.
"""

from __future__ import annotations

from leitstand.testing._server import ReceivedRequest, ScriptedChatServer

__all__ = ["ReceivedRequest", "ScriptedChatServer"]
