"""Channel `sync`: two-way file sync between the editor host's folder and the workspace.

`server.serve` is the workspace half (registered in `codeforge.bridge.channels`);
`client.run_sync` is the local half `codeforge connect --sync DIR` runs. See docs/bridge.md,
"File sync". Nothing is re-exported, so importing one half does not import the other.
"""

__all__: list[str] = []
