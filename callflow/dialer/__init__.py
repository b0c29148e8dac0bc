"""Outbound dialing: pacing policies and abandon accounting (pure decisions)."""
