"""Typed answers of the API: what a generated client gets back from each operation."""
