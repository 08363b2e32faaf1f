"""The HTTP cache on each edge node (docs/cache.md): rules per route compiled to VCL, purges on
every node, hit/miss counts per route."""
