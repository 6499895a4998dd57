"""HTTP API of gridloop (FastAPI); build it with :func:`api.app.create_app`."""
