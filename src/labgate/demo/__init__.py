"""A demo plant (site PLT1) as a master-data document: `plant.yaml`, imported by the seed code."""
