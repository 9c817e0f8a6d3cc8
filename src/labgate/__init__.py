"""labgate: the quality-release hub between an MES and a LIMS."""

__version__ = "0.1.0"
