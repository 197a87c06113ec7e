"""Run a ScriptedChatServer on its own: ``python -m leitstand.testing.scripted_server``.

Every chat request gets ``--reply`` (or an echo of the last user message); the URL is printed
on the first line of output so that scripts can read it. Stop it with Ctrl-C.
"""

from __future__ import annotations

import argparse
import contextlib
import threading
from collections.abc import Sequence
from typing import Any

from leitstand.testing._server import ScriptedChatServer


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m leitstand.testing.scripted_server",
        description="An OpenAI-compatible server that answers with scripted text, for tests.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface (default: %(default)s)")
    parser.add_argument("--port", type=int, default=0, help="TCP port (default: a free one)")
    parser.add_argument(
        "--reply", help='the answer to every chat request (default: "scripted answer: <question>")'
    )
    parser.add_argument(
        "--model",
        default="scripted-model",
        help="model listed at /v1/models (default: %(default)s)",
    )
    parser.add_argument(
        "--delay", type=float, default=0.0, help="seconds before the first byte of each answer"
    )
    parser.add_argument("--api-key", help="require this key as 'Authorization: Bearer <key>'")
    parser.add_argument(
        "--embedding-dim", type=int, default=64, help="length of /v1/embeddings vectors"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    reply: str | None = args.reply

    def constant(body: dict[str, Any]) -> str:
        assert reply is not None
        return reply

    server = ScriptedChatServer(
        model=args.model,
        default=constant if reply is not None else None,
        delay_s=args.delay,
        api_key=args.api_key,
        embedding_dim=args.embedding_dim,
        host=args.host,
        port=args.port,
    )
    with server, contextlib.suppress(KeyboardInterrupt):
        print(server.url, flush=True)
        threading.Event().wait()


if __name__ == "__main__":
    main()
