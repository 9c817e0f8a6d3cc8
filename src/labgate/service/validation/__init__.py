"""The validation pack's pure part: the URS as data, the GAMP 5 risk matrix, the trace matrix
from requirements to tests, and the OQ verdict of a test run. No I/O: the entry point reads the
JUnit file and the environment (adapters/validation) and hands them in."""
