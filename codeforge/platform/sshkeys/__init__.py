"""Members' SSH public keys, which bridges' SSH servers accept for their owner only."""
