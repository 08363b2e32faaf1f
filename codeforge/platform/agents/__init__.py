"""Agents (#13): model access, the codebase map, the sandbox, the agents' loop and the
orchestrator, and the capability that runs them as jobs. See docs/agents.md."""
