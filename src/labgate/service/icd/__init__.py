"""The Interface Control Document: generated from the configuration in force, versioned,
approved by QA, compared version with version."""
