"""The audit log: who did what, on what, with what outcome, from where."""
