"""Debugging: the editor's "Debug this test/file" lenses (the debugger itself is the bridge's `dap` channel)."""
