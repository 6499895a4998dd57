"""The read model: SQL tables the workflow's projection activity writes and the API reads."""
