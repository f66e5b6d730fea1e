"""Text-to-speech acoustic models (FastSpeech-style, flow-matching decoder) and alignment."""
