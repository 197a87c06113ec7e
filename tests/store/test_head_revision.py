"""The fast start-up check derives the newest migration from file names; Alembic must agree."""

from __future__ import annotations

from importlib import resources

import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory

from leitstand.store.database import head_revision

pytestmark = pytest.mark.unit


def test_head_from_file_names_is_alembics_head() -> None:
    config = Config()
    config.set_main_option(
        "script_location", str(resources.files("leitstand.store").joinpath("migrations"))
    )
    script = ScriptDirectory.from_config(config)
    assert head_revision() == script.get_current_head()
    revisions = [rev.revision for rev in script.walk_revisions()]
    assert all(rev.isdigit() and len(rev) == 4 for rev in revisions), "revisions are numbered"
    assert len(script.get_heads()) == 1, "migrations are one straight line"
