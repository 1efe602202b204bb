"""The batch-file route: a run's requests written to files in the OpenAI Batch API format
and the engine's output read back into its records, for sweeps no server should hold open
and for engines that take files (vLLM's ``run_batch``, hosted batch APIs, Ray Data).

A run on the route names its model ``openai:<served model>@batch,capabilities=...``: no
server is contacted, the requests are built exactly as the ``openai:`` backend sends them
(:mod:`telltale.batch.route`), and ``telltale batch read`` validates an output file and
completes the run (:mod:`telltale.batch.cli`).
"""
