"""The labgate command line."""
