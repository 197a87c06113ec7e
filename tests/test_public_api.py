"""The public surface: `leitstand.__all__` is sorted, complete and importable; types ship."""

from __future__ import annotations

from pathlib import Path

import pytest

import leitstand

pytestmark = pytest.mark.unit


def test_all_is_sorted_and_every_name_resolves() -> None:
    names = [name for name in leitstand.__all__ if name != "__version__"]
    assert names == sorted(names)
    for name in leitstand.__all__:
        assert getattr(leitstand, name) is not None


def test_lazy_exports_and_all_agree() -> None:
    exported = {name for name in leitstand.__all__ if name != "__version__"}
    assert exported == set(leitstand._EXPORTS)
    with pytest.raises(AttributeError):
        _ = leitstand.NoSuchThing  # type: ignore[attr-defined]


def test_package_is_typed() -> None:
    assert (Path(leitstand.__file__).parent / "py.typed").is_file()
