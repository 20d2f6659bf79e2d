"""Assignment 06_relu: its hidden checks (``checks.py``) and its mutant catalogue (``mutants.py``)."""
