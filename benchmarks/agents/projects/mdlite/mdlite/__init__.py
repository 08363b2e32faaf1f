"""A small Markdown subset to HTML."""

from mdlite.render import to_html

__all__ = ["to_html"]
