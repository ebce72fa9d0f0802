"""Reputation domain: the data team's reputation and network tables (schema `analytics`),
derived from the chain tables and the render attempts, kept current by declarative
automation, and checked."""
