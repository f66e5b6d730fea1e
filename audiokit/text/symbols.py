"""Symbol table: front-end symbols <-> integer ids, saved in a model's config.

A model is trained with one table and ships it (``to_dict()`` into ``config.yaml``), so at
synthesis time every symbol is either one the model has seen or is dealt with by the
table's explicit policy — never silently mapped to a wrong embedding.

Layout: id 0 is the pad symbol, then (optionally) the unknown symbol, then space,
punctuation and stress marks, then the inventory in the order given.
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence

from .phonemize import PUNCTUATION, STRESS, split_symbols

__all__ = ["SymbolTable", "UnknownSymbolError", "IPA_SYMBOLS", "LETTERS"]

LETTERS = "abcdefghijklmnopqrstuvwxyz"
# The IPA chart's letters (pulmonic and non-pulmonic consonants, vowels), its suprasegmentals
# and the modifier letters and combining diacritics eSpeak NG writes; per code point.
IPA_SYMBOLS = (
    "ɑɐɒæɓʙβɔɕçɗɖðʤəɘɚɛɜɝɞɟʄɡɠɢʛɦɧħɥʜɨɪʝɭɬɫɮʟɱɯɰŋɳɲɴøɵɸθœɶʘɹɺɾɻʀʁɽʂʃʈʧʉʊʋⱱʌɣɤʍχʎʏʑʐʒʔʡʕʢ"
    "ǀǁǂǃᵻᵿ"
    "ːˑ˞ʰʱʲʷˠˤʼ̩̪̥̬̯̰̝̞̟̠̤̹̺̻̼̃̈̊̚͡"
)
_POLICIES = ("error", "skip", "unk")


class UnknownSymbolError(ValueError):
    """A symbol the table does not have (the model was never trained with it)."""


def _name(sym: str) -> str:
    return " + ".join(f"U+{ord(c):04X} {unicodedata.name(c, '<unnamed>')}" for c in sym)


class SymbolTable:
    """Bijection between symbols and ids.

    Args:
        symbols: the inventory (strings; usually single code points). Space, punctuation
            and stress marks are added in front unless already present.
        pad: padding symbol, always id 0.
        unk: unknown symbol (id 1) or ``None`` for none.
        on_unknown: what :meth:`encode` does with a symbol not in the table: ``"error"``
            raises :class:`UnknownSymbolError` naming it, ``"skip"`` drops it, ``"unk"``
            maps it to ``unk`` (which must be set).
    """

    def __init__(self, symbols: Iterable[str], pad: str = "<pad>", unk: str | None = None,
                 on_unknown: str = "error"):
        if on_unknown not in _POLICIES:
            raise ValueError(f"on_unknown must be one of {_POLICIES}, got {on_unknown!r}")
        if on_unknown == "unk" and unk is None:
            raise ValueError("on_unknown='unk' needs an unk symbol, e.g. SymbolTable(..., unk='<unk>')")
        specials = [pad] + ([unk] if unk is not None else [])
        ordered: list[str] = []
        for s in [*specials, " ", *PUNCTUATION, *STRESS, *symbols]:
            if not isinstance(s, str) or not s:
                raise ValueError(f"symbols must be non-empty strings, got {s!r}")
            if s not in ordered:
                ordered.append(s)
        self.pad, self.unk, self.on_unknown = pad, unk, on_unknown
        self._symbols = ordered
        self._ids = {s: i for i, s in enumerate(ordered)}

    # ------------------------------------------------------------- construction
    @classmethod
    def standard_ipa(cls, **kwargs) -> "SymbolTable":
        """Every IPA letter, diacritic and suprasegmental plus ASCII letters (eSpeak writes
        some phonemes with them): a table for any language eSpeak NG phonemises."""
        return cls([*LETTERS, *IPA_SYMBOLS], **kwargs)

    @classmethod
    def characters(cls, alphabet: str = LETTERS + "'-", **kwargs) -> "SymbolTable":
        """Table for :class:`~audiokit.text.phonemize.CharacterFrontEnd` output."""
        return cls(list(alphabet), **kwargs)

    @classmethod
    def from_corpus(cls, sequences: Iterable[str | Sequence[str]], min_count: int = 1,
                    **kwargs) -> "SymbolTable":
        """Inventory of the symbols occurring in ``sequences`` (front-end outputs as strings,
        or token lists), sorted, keeping those seen at least ``min_count`` times."""
        counts: Counter = Counter()
        for seq in sequences:
            counts.update(split_symbols(seq) if isinstance(seq, str) else seq)
        return cls(sorted(s for s, c in counts.items() if c >= min_count), **kwargs)

    # ------------------------------------------------------------- (de)serialisation
    def to_dict(self) -> dict:
        """Plain dict for a model's config; :meth:`from_dict` rebuilds the same ids."""
        return {"symbols": list(self._symbols), "pad": self.pad, "unk": self.unk,
                "on_unknown": self.on_unknown}

    @classmethod
    def from_dict(cls, d: dict) -> "SymbolTable":
        try:
            symbols, pad = list(d["symbols"]), d["pad"]
        except (KeyError, TypeError) as e:
            raise ValueError(f"symbol table dict needs 'symbols' and 'pad', got {d!r:.200} ({e})") from None
        if not symbols or symbols[0] != pad:
            raise ValueError(f"symbol table dict: the first symbol must be the pad {pad!r}")
        if len(set(symbols)) != len(symbols):
            dup = [s for s, c in Counter(symbols).items() if c > 1]
            raise ValueError(f"symbol table dict has duplicate symbols: {dup}")
        table = cls(symbols[1:], pad=pad, unk=d.get("unk"), on_unknown=d.get("on_unknown", "error"))
        if table._symbols != symbols:
            # the stored order is the truth: ids must not move between training and inference
            table._symbols = symbols
            table._ids = {s: i for i, s in enumerate(symbols)}
        return table

    # ------------------------------------------------------------- use
    @property
    def symbols(self) -> list[str]:
        return list(self._symbols)

    @property
    def pad_id(self) -> int:
        return 0

    @property
    def unk_id(self) -> int | None:
        return None if self.unk is None else self._ids[self.unk]

    def __len__(self) -> int:
        return len(self._symbols)

    def __contains__(self, symbol: str) -> bool:
        return symbol in self._ids

    def __eq__(self, other) -> bool:
        return isinstance(other, SymbolTable) and self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        return f"SymbolTable({len(self)} symbols, on_unknown={self.on_unknown!r})"

    def check(self, tokens: str | Sequence[str]) -> list[str]:
        """Out-of-table symbols of ``tokens`` (a front-end string or token list), each once,
        by name: ``["'☃' (U+2603 SNOWMAN)"]``; empty when all are known."""
        seq = split_symbols(tokens) if isinstance(tokens, str) else list(tokens)
        seen: list[str] = []
        for s in seq:
            if s not in self._ids and s not in seen:
                seen.append(s)
        return [f"{s!r} ({_name(s)})" for s in seen]

    def encode(self, tokens: str | Sequence[str]) -> list[int]:
        """Ids of ``tokens`` (a front-end string or token list); unknown symbols follow the
        table's ``on_unknown`` policy."""
        seq = split_symbols(tokens) if isinstance(tokens, str) else list(tokens)
        ids: list[int] = []
        missing = []
        for s in seq:
            i = self._ids.get(s)
            if i is None:
                if self.on_unknown == "error":
                    missing.append(s)
                elif self.on_unknown == "unk":
                    ids.append(self._ids[self.unk])
                continue
            ids.append(i)
        if missing:
            names = self.check(missing)
            raise UnknownSymbolError(
                f"{len(names)} symbol(s) not in the table (the model was not trained with them): "
                f"{', '.join(names)}; build the table from a corpus that has them, or use "
                "on_unknown='skip'/'unk'")
        return ids

    def decode(self, ids: Iterable[int], strip_pad: bool = True) -> list[str]:
        """Symbols of ``ids`` (pads dropped unless ``strip_pad=False``)."""
        out = []
        for i in ids:
            i = int(i)
            if not 0 <= i < len(self._symbols):
                raise ValueError(f"id {i} out of range for a table of {len(self)} symbols")
            if strip_pad and i == 0:
                continue
            out.append(self._symbols[i])
        return out
