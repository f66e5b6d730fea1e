"""eSpeak NG through ctypes: waveform synthesis and IPA phonemes for the TTS front-end.

The shared library and its voice data come from the PyPI package ``espeakng-loader``
(``espeakng_loader.get_library_path()`` / ``get_data_path()``); no system install is
needed. The C API used is the classic ``speak_lib.h`` one:

* ``espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 0, data_path, espeakINITIALIZE_DONT_EXIT)``
  returns the output sample rate (22050 Hz for the bundled voices);
* ``espeak_SetVoiceByName`` picks a voice, ``"<language>+<variant>"`` adds a variant
  (``"en-us+m3"``, ``"en+f2"``); ``espeak_SetParameter`` sets rate / pitch / range;
* ``espeak_Synth`` runs synchronously and hands int16 blocks to the callback set with
  ``espeak_SetSynthCallback``; a call with ``numsamples == 0`` or ``wav == NULL`` marks the end;
* ``espeak_TextToPhonemes`` translates one clause per call to IPA (phoneme mode bit 1).

libespeak-ng keeps all its state in globals and is not thread-safe, so one process-wide
instance exists (:class:`EspeakNG` is a singleton) and every call into the library holds
one lock. Worker processes each load their own copy, which is fine.
"""

from __future__ import annotations

import ctypes
import threading
from pathlib import Path

import numpy as np

__all__ = ["EspeakError", "EspeakNG", "SAMPLE_RATE_HINT"]

# constants from speak_lib.h
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_DONT_EXIT = 0x8000
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_ENDPAUSE = 0x1000
_EE_OK, _EE_INTERNAL_ERROR, _EE_BUFFER_FULL, _EE_NOT_FOUND = 0, -1, 1, 2
_PARAM_RATE, _PARAM_VOLUME, _PARAM_PITCH, _PARAM_RANGE = 1, 2, 3, 4
_PHONEMES_IPA = 0x02

SAMPLE_RATE_HINT = 22050  # what the bundled voices produce; the real value comes from Initialize


class EspeakError(ValueError):
    """eSpeak NG could not be loaded, or was given a voice/text/parameter it cannot use."""


class _Voice(ctypes.Structure):
    # espeak_VOICE from speak_lib.h
    _fields_ = [
        ("name", ctypes.c_char_p),
        ("languages", ctypes.c_void_p),  # (priority byte, NUL-terminated language)* then NUL
        ("identifier", ctypes.c_char_p),
        ("gender", ctypes.c_ubyte),
        ("age", ctypes.c_ubyte),
        ("variant", ctypes.c_ubyte),
        ("xx1", ctypes.c_ubyte),
        ("score", ctypes.c_int),
        ("spare", ctypes.c_void_p),
    ]


# int callback(short *wav, int numsamples, espeak_EVENT *events); events are not parsed here
_SynthCallback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)


class EspeakNG:
    """The process-wide eSpeak NG engine.

    ``EspeakNG()`` always returns the same object; the library is loaded and initialised
    on first use. Methods are safe to call from several threads (they serialise on a lock).
    """

    _instance: "EspeakNG | None" = None
    _instance_lock = threading.Lock()

    def __new__(cls, library_path: str | None = None, data_path: str | None = None):
        with cls._instance_lock:
            if cls._instance is None:
                obj = super().__new__(cls)
                obj._init(library_path, data_path)
                cls._instance = obj
            return cls._instance

    # ------------------------------------------------------------------ set-up
    def _init(self, library_path: str | None, data_path: str | None) -> None:
        self._lock = threading.RLock()
        if library_path is None or data_path is None:
            try:
                import espeakng_loader
            except ImportError as e:
                raise EspeakError(
                    "eSpeak NG is not available: install the PyPI package 'espeakng-loader' "
                    f"(pip install espeakng-loader) ({e})") from None
            library_path = library_path or espeakng_loader.get_library_path()
            try:
                data_path = data_path or espeakng_loader.get_data_path()
            except RuntimeError as e:
                raise EspeakError(f"eSpeak NG data not found: {e}") from None
        if not Path(data_path).is_dir():
            raise EspeakError(f"eSpeak NG data directory not found: {data_path}")
        try:
            lib = ctypes.CDLL(str(library_path))
        except OSError as e:
            raise EspeakError(f"cannot load libespeak-ng from {library_path}: {e}") from None
        self.library_path, self.data_path = str(library_path), str(data_path)

        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_SetSynthCallback.argtypes = [_SynthCallback]
        lib.espeak_SetSynthCallback.restype = None
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetVoiceByName.restype = ctypes.c_int
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_SetParameter.restype = ctypes.c_int
        lib.espeak_Synth.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
                                     ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p]
        lib.espeak_Synth.restype = ctypes.c_int
        lib.espeak_ListVoices.argtypes = [ctypes.c_void_p]
        lib.espeak_ListVoices.restype = ctypes.POINTER(ctypes.POINTER(_Voice))
        lib.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]
        lib.espeak_ng_SetRandSeed.restype = None
        # const char *espeak_TextToPhonemes(const void **textptr, int textmode, int phonememode)
        lib.espeak_TextToPhonemes.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_int, ctypes.c_int]
        lib.espeak_TextToPhonemes.restype = ctypes.c_char_p
        self._lib = lib

        sr = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, self.data_path.encode(), _INITIALIZE_DONT_EXIT)
        if sr <= 0:
            raise EspeakError(f"espeak_Initialize failed (returned {sr}) with data path {self.data_path}")
        self.sample_rate = int(sr)

        self._chunks: list[np.ndarray] = []
        # keep a reference: ctypes frees the trampoline when the Python object dies
        self._callback = _SynthCallback(self._on_samples)
        lib.espeak_SetSynthCallback(self._callback)
        self._voice: str | None = None
        self._variants = sorted(p.name for p in (Path(self.data_path) / "voices" / "!v").glob("*") if p.is_file())

    def _on_samples(self, wav, numsamples, events) -> int:
        if wav and numsamples > 0:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(numsamples,)).copy())
        return 0  # 0 = continue synthesis

    # ------------------------------------------------------------------ voices
    def list_voices(self, language: str | None = None) -> list[dict]:
        """Installed voices: ``[{"name", "identifier", "languages": [...], "gender"}]``.

        ``language`` filters on a language prefix (``"en"`` matches ``en-us``, ``en-gb`` ...).
        Variants (``m1``..``m8``, ``f1``..``f5``, ``klatt``, ...) are in :attr:`variants`
        and combine with any voice as ``"<voice>+<variant>"``.
        """
        with self._lock:
            arr = self._lib.espeak_ListVoices(None)
            out = []
            i = 0
            while arr[i]:
                v = arr[i].contents
                langs = _parse_languages(v.languages)
                out.append({
                    "name": (v.name or b"").decode("utf-8", "replace"),
                    "identifier": (v.identifier or b"").decode("utf-8", "replace"),
                    "languages": langs,
                    "gender": {1: "male", 2: "female"}.get(v.gender, "none"),
                })
                i += 1
        if language:
            lang = language.lower()
            out = [v for v in out if any(l.lower().startswith(lang) for l in v["languages"])]
        return out

    @property
    def variants(self) -> list[str]:
        """Voice variant names usable after ``+`` (``"m3"``, ``"f2"``, ``"klatt"``, ...)."""
        return list(self._variants)

    def _set_voice(self, voice: str) -> None:
        if voice == self._voice:
            return
        if not isinstance(voice, str) or not voice.strip():
            raise EspeakError(f"voice must be a name like 'en-us' or 'en+f2', got {voice!r}")
        base, _, variant = voice.partition("+")
        if variant and variant not in self._variants:
            raise EspeakError(f"unknown eSpeak NG voice variant {variant!r} in {voice!r} "
                              f"(known: {', '.join(self._variants[:20])}, ...)")
        err = self._lib.espeak_SetVoiceByName(voice.encode())
        if err == _EE_NOT_FOUND:
            # a language code ("en-gb") is not a voice name; use the voice file that declares it
            ident = self._voice_for_language(base)
            if ident is not None:
                err = self._lib.espeak_SetVoiceByName((ident + ("+" + variant if variant else "")).encode())
        if err != _EE_OK:
            self._voice = None
            raise EspeakError(f"unknown eSpeak NG voice {voice!r} (espeak_SetVoiceByName returned {err}); "
                              "see EspeakNG().list_voices() for names such as 'en-us', 'en-gb', 'en+m3'")
        self._voice = voice

    def _voice_for_language(self, language: str) -> str | None:
        lang = language.lower()
        for v in self.list_voices():
            if lang in (l.lower() for l in v["languages"]):
                return v["identifier"]
        return None

    # ------------------------------------------------------------------ synthesis
    def synthesize(self, text: str, voice: str = "en-us", rate: int = 175, pitch: int = 50,
                   pitch_range: int = 50, volume: int = 100, seed: int | None = None) -> tuple[np.ndarray, int]:
        """Speak ``text`` and return ``(waveform float32 in [-1, 1], sample_rate)``.

        Args:
            text: UTF-8 plain text (not SSML); must contain something to say.
            voice: voice name, optionally with a variant: ``"en-us"``, ``"en-us+m3"``, ``"en+f2"``.
            rate: speaking rate in words per minute (eSpeak accepts 80..450).
            pitch: base pitch, 0..100 (50 = the voice's normal pitch).
            pitch_range: intonation range, 0..100 (0 = monotone, 50 = normal).
            volume: amplitude, 0..200 (100 = normal).
            seed: seeds eSpeak's own random generator (``espeak_ng_SetRandSeed``), which
                drives breath noise (voices with ``breath``, e.g. the ``f*`` variants). eSpeak
                also keeps a pitch-flutter phase across calls in the process, so equal
                calls give equal samples only after equal call histories.
        """
        if not isinstance(text, str) or not text.strip():
            raise EspeakError(f"nothing to synthesise: text is empty ({text!r})")
        for name, value, lo, hi in (("rate", rate, 80, 450), ("pitch", pitch, 0, 100),
                                    ("pitch_range", pitch_range, 0, 100), ("volume", volume, 0, 200)):
            if not (isinstance(value, (int, np.integer)) and lo <= value <= hi):
                raise EspeakError(f"{name} must be an integer in [{lo}, {hi}], got {value!r}")
        data = text.encode("utf-8") + b"\0"
        with self._lock:
            self._set_voice(voice)
            for param, value in ((_PARAM_RATE, rate), (_PARAM_PITCH, pitch),
                                 (_PARAM_RANGE, pitch_range), (_PARAM_VOLUME, volume)):
                err = self._lib.espeak_SetParameter(param, int(value), 0)
                if err != _EE_OK:
                    raise EspeakError(f"espeak_SetParameter({param}, {value}) failed with {err}")
            self._chunks = []
            if seed is not None:
                self._lib.espeak_ng_SetRandSeed(int(seed) & 0x7FFFFFFF)
            try:
                err = self._lib.espeak_Synth(data, len(data), 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
                chunks, self._chunks = self._chunks, []
            finally:
                self._chunks = []
        if err != _EE_OK:
            raise EspeakError(f"espeak_Synth failed with error {err} for text {text[:60]!r}")
        if not chunks:
            raise EspeakError(f"eSpeak NG produced no audio for text {text[:60]!r}")
        wav = np.concatenate(chunks).astype(np.float32) / 32768.0
        return wav, self.sample_rate

    # ------------------------------------------------------------------ phonemes (TTS front-end)
    def phonemize(self, text: str, voice: str = "en-us", ipa: bool = True) -> list[str]:
        """Phonemes of ``text``, one string per clause eSpeak NG found.

        Calls ``espeak_TextToPhonemes(&textptr, espeakCHARS_UTF8, mode)`` in a loop: each
        call translates one clause and advances ``textptr`` (NULL at the end). ``mode`` bit 1
        selects IPA (UTF-8) over eSpeak's ASCII phoneme names. Words are separated by
        spaces, stress is marked with ``ˈ``/``ˌ``. eSpeak drops the punctuation that ends
        a clause, so callers that want to keep it must split the text themselves
        (:class:`audiokit.text.phonemize.Phonemizer` does).
        """
        if not isinstance(text, str):
            raise EspeakError(f"text must be a str, got {type(text).__name__}")
        if not text.strip():
            return []
        buf = ctypes.create_string_buffer(text.encode("utf-8") + b"\0")
        mode = _PHONEMES_IPA if ipa else 0
        out = []
        with self._lock:
            self._set_voice(voice)
            ptr = ctypes.c_void_p(ctypes.addressof(buf))
            while ptr.value:
                res = self._lib.espeak_TextToPhonemes(ctypes.byref(ptr), _CHARS_UTF8, mode)
                if res:
                    out.append(res.decode("utf-8", "replace"))
        return [c for c in out if c.strip()]


def _parse_languages(addr: int | None) -> list[str]:
    """Decode espeak_VOICE.languages: repeated (priority byte, C string), ended by a 0 byte."""
    if not addr:
        return []
    out = []
    while True:
        prio = ctypes.c_ubyte.from_address(addr).value
        if prio == 0:
            break
        s = ctypes.string_at(addr + 1)
        out.append(s.decode("utf-8", "replace"))
        addr += 1 + len(s) + 1
    return out
