"""The DNS systems the domains capability drives: RFC 2136 first (`rfc2136.py`)."""
