"""Reference/candidate operator pairs in KernelBench format (see catalog.py)."""
