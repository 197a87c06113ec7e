"""The ``leitstand`` command."""

from __future__ import annotations


def main() -> None:
    from leitstand.cli.app import app

    app()
