"""Read-only views of a run for people and tools: the original API's helpers, ``hpopt status``, plots.

They read through the file store without taking a lock or writing anything, so they work on a finished
run, a killed one, and one whose controller is still running.
"""
