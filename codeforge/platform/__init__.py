"""The platform service: the only process that holds platform state and performs operations."""
