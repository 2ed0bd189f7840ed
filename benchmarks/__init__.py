"""The benchmark suite: step time and memory (:mod:`benchmarks.step_time`), steps and time to
a target under one tuning protocol (:mod:`benchmarks.time_to_target`, tasks in
:mod:`benchmarks.tasks`, optimizer families in :mod:`benchmarks.families`), and the docs page
generated from their JSON (:mod:`benchmarks.make_docs`).  Run them as modules from the
repository root, e.g. ``python -m benchmarks.time_to_target --quick``; ``make bench`` runs all.
"""
