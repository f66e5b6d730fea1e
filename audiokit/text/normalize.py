"""English text normalisation before phonemisation: numbers, money, times, abbreviations.

Written for the cases LJSpeech's transcripts contain and in LJSpeech's own style (its
``metadata.csv`` normalised column): no "and" inside hundreds ("one hundred ninety-nine"),
a comma after the thousands ("six thousand, four hundred thirty-nine"), four-digit
numbers between 1100 and 2099 read as years ("eighteen oh three", "eighteen hundred"),
pounds/shillings/pence spelled out. LJSpeech keeps titles such as "Mr." in its normalised
column; we expand them ("mister") because the phonemiser must say them.

Order matters and follows what each pattern can swallow: currency before plain numbers,
times before decimals, ordinals before cardinals, years before cardinals.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["normalize", "number_to_words", "ordinal_to_words", "year_to_words",
           "roman_to_int", "expand_abbreviations", "NormalizationError"]


class NormalizationError(ValueError):
    """A number or token could not be spelled out."""


_ONES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
         "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen",
         "eighteen", "nineteen"]
_TENS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
_SCALES = [(10 ** 12, "trillion"), (10 ** 9, "billion"), (10 ** 6, "million"), (1000, "thousand")]
_ORDINAL_IRREGULAR = {"one": "first", "two": "second", "three": "third", "five": "fifth",
                      "eight": "eighth", "nine": "ninth", "twelve": "twelfth"}


def _below_100(n: int) -> str:
    if n < 20:
        return _ONES[n]
    tens, ones = divmod(n, 10)
    return _TENS[tens] + ("-" + _ONES[ones] if ones else "")


def _below_1000(n: int) -> str:
    hundreds, rest = divmod(n, 100)
    parts = []
    if hundreds:
        parts.append(_ONES[hundreds] + " hundred")
    if rest or not hundreds:
        parts.append(_below_100(rest))
    return " ".join(parts)


def number_to_words(n: int) -> str:
    """Cardinal in LJSpeech style: ``6439 -> "six thousand, four hundred thirty-nine"``."""
    if not isinstance(n, int):
        raise NormalizationError(f"number_to_words expects an int, got {n!r}")
    if n < 0:
        return "minus " + number_to_words(-n)
    if n >= 10 ** 15:
        # too long to be read as one number: read digit by digit
        return " ".join(_ONES[int(d)] for d in str(n))
    if n < 1000:
        return _below_1000(n)
    parts = []
    for value, name in _SCALES:
        if n >= value:
            head, n = divmod(n, value)
            parts.append(_below_1000(head) + " " + name)
    out = ", ".join(parts)
    if n:
        # LJSpeech: "seven thousand twenty" but "six thousand, four hundred thirty-nine"
        out += (", " if n >= 100 else " ") + _below_1000(n)
    return out


def ordinal_to_words(n: int) -> str:
    """``22 -> "twenty-second"``, ``100 -> "one hundredth"``."""
    words = number_to_words(n)
    m = re.search(r"([a-z]+)$", words)
    last = m.group(1)
    if last in _ORDINAL_IRREGULAR:
        new = _ORDINAL_IRREGULAR[last]
    elif last.endswith("y"):
        new = last[:-1] + "ieth"
    else:
        new = last + "th"
    return words[: m.start()] + new


def year_to_words(n: int) -> str:
    """Year reading: 1865 -> eighteen sixty-five, 1803 -> eighteen oh three, 1800 ->
    eighteen hundred, 2000 -> two thousand, 2007 -> two thousand seven, 2015 -> twenty fifteen."""
    if not 1000 <= n <= 9999:
        return number_to_words(n)
    if n % 1000 == 0 or 2000 <= n <= 2009:
        return number_to_words(n).replace(",", "")
    head, tail = divmod(n, 100)
    if tail == 0:
        return _below_100(head) + " hundred"
    if tail < 10:
        return _below_100(head) + " oh " + _ONES[tail]
    return _below_100(head) + " " + _below_100(tail)


# ------------------------------------------------------------------ roman numerals
_ROMAN = {"I": 1, "V": 5, "X": 10, "L": 50, "C": 100, "D": 500, "M": 1000}
_ROMAN_RE = re.compile(r"^M{0,3}(CM|CD|D?C{0,3})(XC|XL|L?X{0,3})(IX|IV|V?I{0,3})$")


def roman_to_int(s: str) -> int:
    """Value of a well-formed Roman numeral (``"VIII" -> 8``); ValueError otherwise."""
    if not s or not _ROMAN_RE.match(s):
        raise NormalizationError(f"not a Roman numeral: {s!r}")
    total = 0
    for a, b in zip(s, s[1:] + " "):
        v = _ROMAN[a]
        total += -v if b != " " and _ROMAN[b] > v else v
    return total


# Conservative: only after a regnal name ("Henry VIII" -> "Henry the eighth") or a
# document-part word ("Chapter IV" -> "Chapter four"); a lone "I" is never touched.
_REGNAL_NAMES = ("Henry|Edward|George|William|Charles|James|Richard|Louis|Elizabeth|Mary|Anne|"
                 "John|Pius|Gregory|Leo|Napoleon|Frederick|Philip|Alexander|Peter|Innocent|Clement")
_REGNAL_RE = re.compile(rf"\b({_REGNAL_NAMES})\s+([IVXLC]+)\b")
_PART_RE = re.compile(r"\b(Chapter|Book|Part|Volume|Vol\.|Section|Act|Scene|Article|Psalm|Class)\s+([IVXLC]+)\b")


def _expand_roman(text: str) -> str:
    def regnal(m):
        try:
            return f"{m.group(1)} the {ordinal_to_words(roman_to_int(m.group(2)))}"
        except NormalizationError:
            return m.group(0)

    def part(m):
        try:
            return f"{m.group(1)} {number_to_words(roman_to_int(m.group(2)))}"
        except NormalizationError:
            return m.group(0)
    return _PART_RE.sub(part, _REGNAL_RE.sub(regnal, text))


# ------------------------------------------------------------------ abbreviations
_ABBREVIATIONS = {
    "mr": "mister", "mrs": "missus", "messrs": "messieurs", "dr": "doctor", "st": "saint",
    "co": "company", "jr": "junior", "sr": "senior", "maj": "major", "gen": "general",
    "capt": "captain", "lt": "lieutenant", "col": "colonel", "sgt": "sergeant", "rev": "reverend",
    "hon": "honorable", "esq": "esquire", "prof": "professor", "ft": "fort", "mt": "mount",
    "gov": "governor", "no": "number", "vol": "volume", "vs": "versus", "etc": "et cetera",
}
_ABBR_RE = re.compile(r"\b(" + "|".join(sorted(_ABBREVIATIONS, key=len, reverse=True)) + r")\.",
                      re.IGNORECASE)


def expand_abbreviations(text: str) -> str:
    """``"Mr. Neild"`` -> ``"mister Neild"``. "No." only before a number; "St." after a
    capitalised word and before a non-name ("Giltspur St.") reads "street"."""
    def repl(m):
        word = m.group(1)
        key = word.lower()
        after = text[m.end():m.end() + 3]
        if key == "no" and not re.match(r"\s*\d", after):
            return m.group(0)
        if key == "st":
            before = text[:m.start()].rstrip()
            nxt = re.match(r"\s+([A-Z])", text[m.end():])
            if before and before.split()[-1][:1].isupper() and not nxt:
                return _cap("street", word)
        return _cap(_ABBREVIATIONS[key], word)
    return _ABBR_RE.sub(repl, text)


def _cap(expansion: str, original: str) -> str:
    return expansion.capitalize() if original[:1].isupper() else expansion


# ------------------------------------------------------------------ numbers in context
_CURRENCY = {"$": ("dollar", "dollars", "cent", "cents"), "£": ("pound", "pounds", "penny", "pence"),
             "€": ("euro", "euros", "cent", "cents")}
_NUM = r"\d{1,3}(?:,\d{3})+|\d+"

_MONEY_RE = re.compile(rf"([$£€])\s?({_NUM})(?:\.(\d{{1,2}}))?(?:\s?(million|billion|thousand))?\b")
_TIME_RE = re.compile(r"\b(\d{1,2}):(\d{2})(?:\s?([ap])\.?\s?m\b\.?)?", re.IGNORECASE)
_AMPM_RE = re.compile(r"\b(\d{1,2})\s?([ap])\.m\.", re.IGNORECASE)
_ORDINAL_RE = re.compile(r"\b(\d+)(st|nd|rd|th)\b", re.IGNORECASE)
_PERCENT_RE = re.compile(rf"({_NUM}(?:\.\d+)?)\s?(%|per\s?cent\b)")
_DECIMAL_RE = re.compile(rf"({_NUM})\.(\d+)")
_RANGE_RE = re.compile(r"\b(\d+)\s?[-–]\s?(\d+)\b")
_NUMBER_RE = re.compile(rf"{_NUM}")
_DECADE_RE = re.compile(r"\b(\d{1,3}0)'?s\b")


def _decade(m) -> str:
    s = m.group(1)
    words = year_to_words(int(s)) if len(s) == 4 else number_to_words(int(s))
    return words[:-1] + "ies" if words.endswith("y") else words + "s"



def _money(m) -> str:
    unit, units, sub, subs = _CURRENCY[m.group(1)]
    whole = int(m.group(2).replace(",", ""))
    if m.group(4):  # "$3.5 million" -> "three point five million dollars"
        num = number_to_words(whole) + (" point " + _digits(m.group(3)) if m.group(3) else "")
        return f"{num} {m.group(4)} {units}"
    cents = int(m.group(3).ljust(2, "0")) if m.group(3) else 0
    parts = []
    if whole or not cents:
        parts.append(f"{number_to_words(whole)} {unit if whole == 1 else units}")
    if cents:
        parts.append(f"{number_to_words(cents)} {sub if cents == 1 else subs}")
    return " and ".join(parts)


def _digits(s: str) -> str:
    return " ".join(_ONES[int(d)] for d in s)


def _time(m) -> str:
    h, mi = int(m.group(1)), int(m.group(2))
    if h > 24 or mi > 59:
        return m.group(0)
    if mi == 0:
        words = number_to_words(h) + ("" if m.group(3) else " o'clock")
    elif mi < 10:
        words = f"{number_to_words(h)} oh {_ONES[mi]}"
    else:
        words = f"{number_to_words(h)} {number_to_words(mi)}"
    if m.group(3):
        words += " " + m.group(3).lower() + " m"
    return words


def _cardinal_or_year(m) -> str:
    s = m.group(0)
    if "," in s:
        return number_to_words(int(s.replace(",", "")))
    n = int(s)
    if len(s) > 1 and s[0] == "0":  # "007", phone/serial style
        return _digits(s)
    if len(s) == 4 and 1100 <= n <= 2099:
        return year_to_words(n)
    return number_to_words(n)


def _range(m) -> str:
    a, b = m.group(1), m.group(2)
    # years keep their own reading through _cardinal_or_year
    return f"{a} to {b}"


_SYMBOLS = [(re.compile(r"\s*&\s*"), " and "), (re.compile(r"\s*\+\s*"), " plus "),
            (re.compile(r"(?<=\s)=(?=\s)"), "equals"), (re.compile(r"\s*@\s*"), " at "),
            (re.compile(r"#\s?(?=\d)"), "number ")]


def normalize(text: str, abbreviations: bool = True) -> str:
    """Spell out what an English reader would say: numbers, money, times, ordinals,
    Roman numerals after regnal names and chapter words, abbreviations, ``&``/``%``.

    Punctuation and letter case are kept (the phonemiser uses punctuation as prosody
    symbols); whitespace is collapsed. ``abbreviations=False`` leaves titles such as
    "Mr." as written (LJSpeech's normalised column does).
    """
    if not isinstance(text, str):
        raise NormalizationError(f"text must be a str, got {type(text).__name__}")
    text = unicodedata.normalize("NFC", text)
    text = text.replace("\u2019", "'").replace("\u2018", "'").replace("\u201c", '"').replace("\u201d", '"')
    text = _expand_roman(text)
    if abbreviations:
        text = expand_abbreviations(text)
    for rx, rep in _SYMBOLS:
        text = rx.sub(rep, text)
    text = _MONEY_RE.sub(_money, text)
    text = _AMPM_RE.sub(lambda m: f"{m.group(1)} {m.group(2).lower()} m", text)
    text = _TIME_RE.sub(_time, text)
    text = _PERCENT_RE.sub(lambda m: m.group(1) + " percent", text)
    text = _DECADE_RE.sub(_decade, text)
    text = _ORDINAL_RE.sub(lambda m: ordinal_to_words(int(m.group(1))), text)
    text = _RANGE_RE.sub(_range, text)
    text = _DECIMAL_RE.sub(lambda m: f"{_cardinal_plain(m.group(1))} point {_digits(m.group(2))}", text)
    text = _NUMBER_RE.sub(_cardinal_or_year, text)
    return re.sub(r"\s+", " ", text).strip()


def _cardinal_plain(s: str) -> str:
    return number_to_words(int(s.replace(",", "")))
