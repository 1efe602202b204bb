"""Human labels on a run's replies: the labels file, the stratified draw, and what they
measure (the scorer's agreement with people, and headline rates corrected for its error).

- :mod:`telltale.annotation.store`: ``labels.jsonl`` in the run directory, append-only;
- :mod:`telltale.annotation.draw`: a seeded draw stratified by cell and by the scorer's
  outcome (``annotation_sample.jsonl``), topped up on request;
- :mod:`telltale.annotation.measure`: records and labels in, agreement and corrected rates
  out (the statistics are :mod:`telltale.agreement`'s);
- :mod:`telltale.annotation.cli`: ``telltale annotate RUN``, a terminal labelling loop.
"""
