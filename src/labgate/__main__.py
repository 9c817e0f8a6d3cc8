"""`python -m labgate` runs the command line."""

from labgate.entrypoints.cli.main import main

main()
