"""Background work: the worker loop (worker.py); its periodic jobs are declared in bootstrap.py (JOBS)."""
