"""Simulators that drive callflow's real decision objects (wait estimates, later dialing)."""
