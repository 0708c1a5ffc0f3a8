"""Fast unit tests: no real model, a stand-in backend (see standin.py)."""
