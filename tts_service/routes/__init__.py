"""HTTP routes: speech synthesis, discovery (models, voices), health."""
