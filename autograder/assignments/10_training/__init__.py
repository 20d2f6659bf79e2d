"""Assignment 10_training: its hidden checks (``checks.py``) and its mutant catalogue (``mutants.py``)."""
