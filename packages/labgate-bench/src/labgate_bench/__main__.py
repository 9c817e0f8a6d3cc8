"""`python -m labgate_bench`: every benchmark line."""

from labgate_bench.main import main

main()
