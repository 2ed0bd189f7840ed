"""The benchmark suite: step time and memory (:mod:`.step_time`, :mod:`.jax_step_time`), steps
and time to a target under one tuning protocol (:mod:`.time_to_target`, tasks in :mod:`.tasks`,
optimizer families in :mod:`.families`), and the docs pages generated from their JSON
(:mod:`.make_docs`).  Run them as modules, e.g.
``python -m superaccel_lab.benchmarks.time_to_target --quick``; ``make bench`` runs all.
"""
