"""The validation pack's edges: the installation it describes (IQ), the pytest run that gives
the OQ evidence, and the files it writes."""
