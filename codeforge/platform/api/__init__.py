"""HTTP adapter of the platform: routes derived from the catalog. No logic lives here."""
