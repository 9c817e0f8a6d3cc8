"""Typed answers of the API: what each operation returns, as the OpenAPI describes it."""
