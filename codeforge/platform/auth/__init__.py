"""Organizations, members, projects and API tokens."""
