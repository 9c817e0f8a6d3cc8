"""The inbox: admission of signed envelopes in order (`admission`), runs of them (`batch`), what a
channel hands in (`incoming`), the answers (`errors`), lookups of what was taken in (`lookup`) and
the quarantine desk (`quarantine`). What it stores is `service/inbox_records.py`: the unit of
work's records, below this package."""
