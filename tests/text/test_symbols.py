import json

import pytest

from audiokit.text.phonemize import PUNCTUATION, CharacterFrontEnd, Phonemizer
from audiokit.text.symbols import SymbolTable, UnknownSymbolError

SENTENCES = ["Printing, in the only sense with which we are at present concerned,",
             "On the 14th June, 1800, there were 199 debtors and 289 felons in the prison.",
             "Is it? Yes; quite: \"so\" (they say)!"]


@pytest.fixture(scope="module")
def corpus():
    ph = Phonemizer()
    return [ph(s) for s in SENTENCES]


def test_layout_and_specials():
    t = SymbolTable(["a", "b"], unk="<unk>")
    assert t.symbols[0] == "<pad>" and t.pad_id == 0 and t.unk_id == 1
    assert " " in t and all(p in t for p in PUNCTUATION) and "ˈ" in t and "ˌ" in t
    assert len(t) == 2 + 1 + len(PUNCTUATION) + 2 + 2


def test_corpus_table_round_trip_through_dict(corpus):
    t = SymbolTable.from_corpus(corpus)
    ids = [t.encode(s) for s in corpus]
    assert all(0 not in i for i in ids)  # pad is never a real symbol
    assert ["".join(t.decode(i)) for i in ids] == corpus
    d = json.loads(json.dumps(t.to_dict()))  # what a config file stores
    again = SymbolTable.from_dict(d)
    assert again == t and [again.encode(s) for s in corpus] == ids
    # a stored order is kept even if it is not the order the constructor would choose
    d2 = dict(d, symbols=[d["symbols"][0]] + d["symbols"][1:][::-1])
    rev = SymbolTable.from_dict(d2)
    assert rev.symbols == d2["symbols"] and rev.decode(rev.encode(corpus[0])) == list(corpus[0])


def test_unknown_symbols_error_names_them(corpus):
    t = SymbolTable.from_corpus(corpus)
    assert "x" not in t  # English eSpeak IPA has no "x"
    with pytest.raises(UnknownSymbolError, match=r"'x' \(U\+0078 LATIN SMALL LETTER X\)"):
        t.encode("ax")
    assert isinstance(UnknownSymbolError("m"), ValueError)
    assert t.check(corpus[0]) == []
    assert t.check("x\u2603x") == ["'x' (U+0078 LATIN SMALL LETTER X)", "'\u2603' (U+2603 SNOWMAN)"]


def test_unknown_policies(corpus):
    base = SymbolTable.from_corpus(corpus).to_dict()
    skip = SymbolTable.from_dict(dict(base, on_unknown="skip"))
    assert skip.encode("ax") == skip.encode("a")
    unk = SymbolTable(base["symbols"][1:], unk="<unk>", on_unknown="unk")
    assert unk.encode("ax") == unk.encode("a") + [unk.unk_id]
    with pytest.raises(ValueError, match="unk symbol"):
        SymbolTable(["a"], on_unknown="unk")
    with pytest.raises(ValueError, match="on_unknown"):
        SymbolTable(["a"], on_unknown="guess")


def test_standard_ipa_covers_espeak_output():
    t = SymbolTable.standard_ipa()
    ph = Phonemizer()
    for lang, text in [("en-us", SENTENCES[1]), ("en-gb", "Thought, through, though."), ("fr-fr", "Un bon vin blanc.")]:
        out = ph(text) if lang == "en-us" else Phonemizer(lang)(text)
        assert t.check(out) == [], (lang, out)


def test_character_table():
    fe = CharacterFrontEnd()
    t = SymbolTable.characters()
    s = fe("Don't stop-now, Mr. Smith!")
    assert t.decode(t.encode(fe.tokens("Don't stop-now, Mr. Smith!"))) == list(s)


def test_bad_dicts_and_ids():
    with pytest.raises(ValueError, match="'symbols' and 'pad'"):
        SymbolTable.from_dict({"pad": "_"})
    with pytest.raises(ValueError, match="first symbol must be the pad"):
        SymbolTable.from_dict({"symbols": ["a", "_"], "pad": "_"})
    with pytest.raises(ValueError, match="duplicate"):
        SymbolTable.from_dict({"symbols": ["_", "a", "a"], "pad": "_"})
    with pytest.raises(ValueError, match="out of range"):
        SymbolTable(["a"]).decode([999])
    assert SymbolTable(["a"]).decode([0, 0], strip_pad=False) == ["<pad>", "<pad>"]
