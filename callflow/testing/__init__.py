"""Real SIP user agents and audio checks, for the integration tests and the demo."""
