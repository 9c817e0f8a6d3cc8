"""The conformance kit: labgate's side of the ICD played against a partner's own endpoint."""
