"""TTS text front-end: English normalisation, eSpeak NG phonemes or characters, symbol table.

``Phonemizer()("Hello, world!") -> "həlˈoʊ, wˈɜːld!"``; ``SymbolTable`` maps its symbols to
ids and is saved in a model's config.
"""

from .espeak import EspeakError, EspeakNG
from .normalize import normalize
from .phonemize import (CharacterFrontEnd, EmptyTextError, Phonemizer, TextError, UnsupportedLanguageError,
                        available_languages, build_frontend)
from .symbols import SymbolTable, UnknownSymbolError

__all__ = ["EspeakError", "EspeakNG", "normalize", "Phonemizer", "CharacterFrontEnd", "TextError",
           "EmptyTextError", "UnsupportedLanguageError", "available_languages", "build_frontend",
           "SymbolTable", "UnknownSymbolError"]
