"""Debug sessions (`debug` resources of channel `dap`) in `bridges.list` and `bridges.close`."""

from __future__ import annotations

from tests.platform.conftest import Org
from tests.platform.test_bridges import ids, listed, org, put, report, session

__all__ = ["org", "put"]  # the fixtures, shared with test_bridges.py


def test_debug_sessions_are_listed_and_closed_once(org: Org) -> None:
    bridge, mine, _ = ids()
    report(org, bridge, session(mine, "acme-developer", ("debug", "d0c0ffee", "debug session of acme-developer")))
    listed_debug = listed(org, bridge)[mine]["debug"]
    assert listed_debug == [{"id": "d0c0ffee", "label": "debug session of acme-developer", "closing": False}]
    asked = org.ok("developer", "bridges.close", {"project": "demo", "kind": "debug", "id": "d0c0ffee"})
    assert asked == {"kind": "debug", "id": "d0c0ffee", "bridge": bridge, "requested": True}
    assert listed(org, bridge)[mine]["debug"][0]["closing"] is True
    delivered = report(org, bridge, session(mine, "acme-developer", ("debug", "d0c0ffee", "debug")))
    assert delivered == [{"kind": "debug", "id": "d0c0ffee"}]
    # An unknown kind is still refused, naming the field.
    refused = org.call("developer", "bridges.close", {"project": "demo", "kind": "debugger", "id": "x"})
    assert refused.status_code == 422 and "kind" in refused.text
