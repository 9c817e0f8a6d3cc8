"""labgate's benchmarks: `python -m labgate_bench` (or `make bench`) prints one BENCH line per
figure, each with the raw limit measured in the same run."""
