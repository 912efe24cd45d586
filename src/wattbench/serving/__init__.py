"""Serving under load: load points of concurrent streams, where they go, their SLOs."""
