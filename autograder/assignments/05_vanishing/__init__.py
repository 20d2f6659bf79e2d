"""Assignment 05_vanishing: its hidden checks (``checks.py``) and its mutant catalogue (``mutants.py``)."""
