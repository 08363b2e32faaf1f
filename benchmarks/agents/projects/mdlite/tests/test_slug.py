import pytest

from mdlite.slug import Slugger, slugify


@pytest.mark.parametrize(
    ("text", "slug"),
    [
        ("Hello, World!", "hello-world"),
        ("  Spaces   and_underscores ", "spaces-and-underscores"),
        ("Crème brûlée", "creme-brulee"),
        ("Ελληνικά", "ελληνικα"),
        ("!!!", "section"),
    ],
)
def test_slugify(text, slug):
    assert slugify(text) == slug


def test_repeated_headings_numbered():
    slugger = Slugger()
    assert [slugger.slug("Intro") for _ in range(3)] == ["intro", "intro-1", "intro-2"]
