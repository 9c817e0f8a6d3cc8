"""The outbox: the rows owed to the MES and the LIMS and their seals (`records`), and the relay
that delivers them after commit (`relay`), woken by its bell (`relay_bell`) in its loop
(`relay_loop`)."""
