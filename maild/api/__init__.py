"""The HTTP API for agents and admins."""
