"""Assignment 07_losses: its hidden checks (``checks.py``) and its mutant catalogue (``mutants.py``)."""
