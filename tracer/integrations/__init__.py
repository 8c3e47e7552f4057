"""Bridges to other libraries' callback systems (optional extras): `langchain`."""
