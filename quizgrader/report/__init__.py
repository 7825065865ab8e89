"""Renderers: each turns the one result model into an output format."""
