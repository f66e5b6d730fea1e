"""Text -> symbol sequences for TTS: IPA phonemes from eSpeak NG, or characters.

Both front-ends share one pipeline:

1. normalise (English: :func:`audiokit.text.normalize.normalize`; other languages: only
   Unicode NFC and whitespace, eSpeak reads their numbers itself);
2. screen characters: letters, digits, whitespace, apostrophes, hyphens and
   :data:`PUNCTUATION` pass; anything else is a *problem* reported by its Unicode name
   (``'U+2603 SNOWMAN'``) and then dropped, spelled by that name, or raised (``unknown=``);
3. split at punctuation, convert each stretch (eSpeak NG's ``espeak_TextToPhonemes``
   drops clause punctuation, so it never sees any), and put the punctuation back as its
   own symbol: ``"Hello, world!" -> "həlˈoʊ, wˈɜːld!"``.

Symbols (:meth:`tokens`) are Unicode code points (a combining mark such as the nasal
tilde is a symbol of its own); a space is the word boundary, ``ˈ``/``ˌ`` are stress.
That is the per-character IPA inventory VITS and Matcha-TTS train on.

eSpeak NG is one global C state: every call goes through :class:`EspeakNG`, which holds
its lock, so front-ends can be used from several threads; worker processes each load
their own library.
"""

from __future__ import annotations

import re
import unicodedata
import warnings
from dataclasses import dataclass, field

from .espeak import EspeakError, EspeakNG
from .normalize import normalize as normalize_english

__all__ = ["PUNCTUATION", "STRESS", "TextError", "EmptyTextError", "UnsupportedLanguageError",
           "FrontEndResult", "Phonemizer", "CharacterFrontEnd", "available_languages",
           "build_frontend"]

PUNCTUATION = ',.?!;:—…"()'
STRESS = "ˈˌ"
_OPENING = '("'
_PUNCT_RE = re.compile("([" + re.escape(PUNCTUATION) + "])")
_LANG_SWITCH_RE = re.compile(r"\([a-z]{2,3}(?:-[a-z0-9]+)*\)")  # eSpeak's "(fr)...(en)" markers
_UNKNOWN_POLICIES = ("drop", "spell", "error")


class TextError(ValueError):
    """Text the front-end cannot turn into symbols."""


class EmptyTextError(TextError):
    """Nothing speakable is left after normalisation."""


class UnsupportedLanguageError(TextError):
    """eSpeak NG has no voice for the language."""


@dataclass
class FrontEndResult:
    """``text`` after normalisation, the symbol string, its symbols and the problems met."""

    text: str
    output: str
    tokens: list[str]
    problems: list[str] = field(default_factory=list)


def available_languages() -> list[str]:
    """Language codes eSpeak NG can phonemise (``"en-us"``, ``"en-gb"``, ``"fr-fr"``, ...)."""
    return sorted({lang for v in EspeakNG().list_voices() for lang in v["languages"]})


def char_name(ch: str) -> str:
    """``'☃' -> 'U+2603 SNOWMAN'``."""
    return f"U+{ord(ch):04X} {unicodedata.name(ch, '<unnamed>')}"


def split_symbols(s: str) -> list[str]:
    """The symbols of a front-end output: its code points."""
    return list(s)


class _FrontEnd:
    """Shared pipeline; subclasses implement :meth:`_convert` on punctuation-free text."""

    def __init__(self, language: str, preserve_punctuation: bool, normalize: bool, unknown: str):
        if unknown not in _UNKNOWN_POLICIES:
            raise ValueError(f"unknown= must be one of {_UNKNOWN_POLICIES}, got {unknown!r}")
        self.language = language
        self.preserve_punctuation = bool(preserve_punctuation)
        self.normalize = bool(normalize)
        self.unknown = unknown

    # ------------------------------------------------------------- public API
    def __call__(self, text: str) -> str:
        """Symbol string for ``text``; character problems are reported as warnings."""
        res = self.process(text)
        for p in res.problems:
            warnings.warn(p, stacklevel=2)
        return res.output

    def tokens(self, text: str) -> list[str]:
        """The symbols of ``self(text)`` (see :func:`split_symbols`)."""
        return split_symbols(self(text))

    def process(self, text: str) -> FrontEndResult:
        """Normalise, screen and convert ``text``; raise :class:`TextError` if nothing is left."""
        if not isinstance(text, str):
            raise TextError(f"text must be a str, got {type(text).__name__}: {text!r}")
        norm = self._normalize(text)
        clean, problems = self._screen(norm)
        if not any(ch.isalnum() for ch in clean):
            raise EmptyTextError(f"nothing to say in {text[:80]!r}: empty after normalisation "
                                 f"({clean!r}){'; ' + '; '.join(problems) if problems else ''}")
        out = self._assemble(clean)
        if not out.strip(PUNCTUATION + " "):
            raise EmptyTextError(f"{type(self).__name__} produced no symbols for {text[:80]!r}")
        return FrontEndResult(norm, out, split_symbols(out), problems)

    def phonemize_batch(self, texts) -> tuple[list[str | None], list[tuple[int, str]]]:
        """Convert every text; a bad one gives ``None`` and a ``(index, message)`` problem,
        and the batch goes on. Dropped/spelled characters are problems of a good item too."""
        results: list[str | None] = []
        problems: list[tuple[int, str]] = []
        for i, text in enumerate(texts):
            try:
                res = self.process(text)
            except (TextError, EspeakError) as e:
                results.append(None)
                problems.append((i, str(e)))
                continue
            results.append(res.output)
            problems.extend((i, p) for p in res.problems)
        return results, problems

    def config(self) -> dict:
        """Settings that rebuild this front-end with :func:`build_frontend`."""
        return {"type": self.kind, "language": self.language,
                "preserve_punctuation": self.preserve_punctuation,
                "normalize": self.normalize, "unknown": self.unknown, **self._extra_config()}

    # ------------------------------------------------------------- pipeline
    def _normalize(self, text: str) -> str:
        text = unicodedata.normalize("NFC", text)
        text = re.sub(r"\s*(--|–|—)\s*", " — ", text)
        if self.normalize and self.language.lower().startswith("en"):
            text = normalize_english(text)
        return re.sub(r"\s+", " ", text).strip()

    def _screen(self, text: str) -> tuple[str, list[str]]:
        out, problems = [], []
        for ch in text:
            cat = unicodedata.category(ch)
            if cat[0] in "LMN" or ch in PUNCTUATION or ch in " '-" or ch.isspace():
                out.append(" " if ch.isspace() else ch)
                continue
            name = char_name(ch)
            if self.unknown == "error":
                raise TextError(f"unsupported character {name} in {text[:80]!r}")
            if self.unknown == "spell" and unicodedata.name(ch, ""):
                problems.append(f"unsupported character {name} spelled out in {text[:80]!r}")
                out.append(" " + unicodedata.name(ch).lower() + " ")
            else:
                problems.append(f"unsupported character {name} dropped from {text[:80]!r}")
                out.append(" ")
        return re.sub(r"\s+", " ", "".join(out)).strip(), problems

    def _assemble(self, text: str) -> str:
        pieces: list[str] = []  # the output, a space-free piece per word/punctuation run
        glue_next = False
        for seg in _PUNCT_RE.split(text):
            if not seg or seg.isspace():
                continue
            if len(seg) == 1 and seg in PUNCTUATION:
                if not self.preserve_punctuation:
                    continue
                opening = seg in _OPENING and (seg == "(" or not pieces or glue_next or
                                               _opens_quote(text, seg, pieces))
                if opening:
                    pieces.append(seg)
                    glue_next = True
                elif pieces:
                    pieces[-1] += seg
                else:
                    pieces.append(seg)
                continue
            words = self._convert(seg.strip()).split()
            if not words:
                continue
            if glue_next and pieces:
                pieces[-1] += words[0]
                words = words[1:]
            pieces.extend(words)
            glue_next = False
        return " ".join(pieces)

    def _convert(self, text: str) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def _extra_config(self) -> dict:
        return {}


def _opens_quote(text: str, quote: str, pieces: list[str]) -> bool:
    # an even number of this quote so far in the output means the next one opens
    return sum(p.count(quote) for p in pieces) % 2 == 0


class Phonemizer(_FrontEnd):
    """IPA phonemes from eSpeak NG (``espeak_TextToPhonemes``, IPA mode).

    Args:
        language: eSpeak NG voice/language (``"en-us"``, ``"en-gb"``, ``"fr-fr"``); see
            :func:`available_languages`.
        preserve_punctuation: keep ``, . ? ! ; : — … " ( )`` as symbols between words.
        with_stress: keep primary/secondary stress marks ``ˈ ˌ``.
        normalize: run the English normaliser first (English languages only).
        unknown: what to do with characters outside letters/digits/punctuation:
            ``"drop"`` (default), ``"spell"`` (read their Unicode name) or ``"error"``.
    """

    kind = "espeak"

    def __init__(self, language: str = "en-us", preserve_punctuation: bool = True,
                 with_stress: bool = True, normalize: bool = True, unknown: str = "drop"):
        super().__init__(language, preserve_punctuation, normalize, unknown)
        self.with_stress = bool(with_stress)
        self._engine = EspeakNG()
        if not isinstance(language, str) or not language.strip():
            raise UnsupportedLanguageError(f"language must be a name like 'en-us', got {language!r}")
        try:
            self._engine.phonemize("a", voice=language)  # selects the voice or fails here
        except EspeakError as e:
            raise UnsupportedLanguageError(
                f"eSpeak NG does not support language {language!r} ({e}); list the supported ones "
                "with audiokit.text.phonemize.available_languages()") from None

    def _convert(self, text: str) -> str:
        clauses = self._engine.phonemize(text, voice=self.language, ipa=True)
        out = " ".join(clauses)
        out = _LANG_SWITCH_RE.sub("", out)
        out = out.replace("-", " ") if self.language.lower().startswith("en") else out.replace("-", "")
        if not self.with_stress:
            out = out.translate({ord(c): None for c in STRESS})
        return out

    def _extra_config(self) -> dict:
        return {"with_stress": self.with_stress}


class CharacterFrontEnd(_FrontEnd):
    """Lower-cased normalised characters: the fallback when phonemes are not wanted."""

    kind = "characters"

    def __init__(self, language: str = "en-us", preserve_punctuation: bool = True,
                 normalize: bool = True, unknown: str = "drop"):
        super().__init__(language, preserve_punctuation, normalize, unknown)

    def _convert(self, text: str) -> str:
        return text.lower()


def build_frontend(config: dict) -> _FrontEnd:
    """Rebuild a front-end from its :meth:`config` dict (stored in a model's config)."""
    cfg = dict(config)
    kind = cfg.pop("type", None)
    classes = {"espeak": Phonemizer, "characters": CharacterFrontEnd}
    if kind not in classes:
        raise ValueError(f"front-end type must be one of {sorted(classes)}, got {kind!r}")
    return classes[kind](**cfg)
