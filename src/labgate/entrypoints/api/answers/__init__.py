"""The typed answers of the API, by area: what a generated client reads back."""
