"""`codeforge bridge` (the remote development server of one workspace folder) and
`codeforge connect` (its local half). See docs/bridge.md.

Only the link is re-exported: importing a channel module must not start the whole server.
This package never imports `codeforge.platform` or `codeforge.collab`; it reaches the
platform through `codeforge.client`.
"""

from codeforge.bridge.link import Dial, DialRefused, Link, LinkClosed, memory_pair

__all__ = ["Dial", "DialRefused", "Link", "LinkClosed", "memory_pair"]
