"""Who is calling: SNIP-12 login challenges verified by the caller's own account contract."""
