"""The embedding endpoint for these tests: a real ScriptedChatServer over HTTP (fast,
deterministic vectors: texts sharing words point alike), shared by a module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from leitstand.testing import ScriptedChatServer


@pytest.fixture(scope="module")
def shared_endpoint() -> Iterator[ScriptedChatServer]:
    with ScriptedChatServer() as server:
        yield server


@pytest.fixture
def endpoint(shared_endpoint: ScriptedChatServer) -> ScriptedChatServer:
    """The embedding endpoint, with an empty script and no requests yet."""
    shared_endpoint.reset()
    return shared_endpoint
