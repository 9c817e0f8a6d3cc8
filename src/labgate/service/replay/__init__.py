"""Replay: a stored decision recomputed from its record and the versions it was bound to, with the
live path's own domain code, and compared step by step, in canonical bytes, with what was stored."""
