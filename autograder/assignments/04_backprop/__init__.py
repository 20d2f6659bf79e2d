"""Assignment 04_backprop: its hidden checks (``checks.py``) and its mutant catalogue (``mutants.py``)."""
