"""Code shared by the Headstart API and workers: settings, errors, stores, schemas."""
