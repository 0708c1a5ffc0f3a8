"""HTTP routes: speech synthesis, discovery (models, voices), health, the web player."""
