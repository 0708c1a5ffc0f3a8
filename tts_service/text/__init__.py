"""Text handling outside the model: sentence splitting and grapheme-to-phoneme conversion."""

from tts_service.text.split import Boundary, Sentence, split_sentences

__all__ = ["Boundary", "Sentence", "split_sentences"]
