"""Master-data documents: their shape (`fields`), read into records (`document`, `specs`),
planned against the store (`plan`) and written back (`render`)."""
