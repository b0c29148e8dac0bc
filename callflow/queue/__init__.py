"""Queueing decisions: who waits, in what order, and how long they are told to expect."""
