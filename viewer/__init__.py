"""The local web viewer and HTTP API (Flask)."""
