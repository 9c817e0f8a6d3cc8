"""The compliance ring: audit trail, e-signatures, access control and the trusted clock."""
