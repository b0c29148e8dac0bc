"""The Stasis application: settings, the service that owns the ARI connection, call tasks."""
