"""Sanctions: what a cheat costs, sent from the operator's account."""
