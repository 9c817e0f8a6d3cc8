"""Reaching a partner's endpoint for the conformance kit."""
