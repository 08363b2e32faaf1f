"""Project environment variables and secrets, encrypted at rest."""
