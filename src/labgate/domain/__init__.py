"""The domain ring: master data, specs and limits, samples and results. Standard library only."""
