"""Reactions: the handlers of domain events, run in the transaction that raised the events.

A use case changes its aggregates, which raise events; the unit of work collects them; the one
routing table (`routing.EVENT_HANDLERS`) sends each to its handlers: outbox rows for the MES
and the LIMS, the IPC gates, the OOS deviation and hold, the OOT check. A handler may raise
further events (on the aggregates it changes); they are handled in turn until none is left.
Handlers never call each other."""
