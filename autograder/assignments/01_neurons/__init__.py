"""Assignment 01_neurons: its hidden checks (``checks.py``) and its mutant catalogue (``mutants.py``)."""
