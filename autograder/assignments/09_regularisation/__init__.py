"""Assignment 09_regularisation: its hidden checks (``checks.py``) and its mutant catalogue (``mutants.py``)."""
