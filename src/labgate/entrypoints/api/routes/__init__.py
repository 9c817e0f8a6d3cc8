"""Route modules, one per area; each route declares its one permission."""
