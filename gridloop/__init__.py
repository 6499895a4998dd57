"""Application shell of gridloop: settings, logging, the embedded stack and the CLI."""
