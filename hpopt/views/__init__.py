"""Read-only views of a run for people and tools: the original API's helpers, ``hpopt status``, the results
table (``hpopt.load_results``, ``hpopt export``) and the pictures (``hpopt plot``).

They read through the state store without taking a lock or writing anything, so they work on a finished
run, a killed one, and one whose controller is still running.
"""
