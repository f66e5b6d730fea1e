"""Kaldi-style data directories: reading, writing, validation messages."""

import numpy as np
import pytest
import soundfile as sf

from audiokit.datadir import DataDir, DataDirError, load_audio_table, read_table, validate_data_dir, write_table


def make_dir(tmp_path, n=3):
    (tmp_path / "wavs").mkdir(parents=True)
    wav, spk, text = {}, {}, {}
    for i in range(n):
        for kind, table in (("noisy", wav), ("clean", spk)):
            f = tmp_path / "wavs" / f"u{i}_{kind}.wav"
            sf.write(f, np.zeros(160, np.float32), 16000)
            table[f"u{i}"] = f"wavs/{f.name}"
        text[f"u{i}"] = f"hello {i}"
    d = tmp_path / "data"
    DataDir.write(d, wav_scp={k: f"../{v}" for k, v in wav.items()}, spk1_scp={k: f"../{v}" for k, v in spk.items()},
                  text=text, utt2spk={k: "spk" for k in wav}, utt2dur={k: 0.01 for k in wav})
    return d


def test_roundtrip_and_relative_paths(tmp_path):
    d = make_dir(tmp_path)
    dd = validate_data_dir(d, required=("wav.scp", "spk1.scp"), check_audio=True)
    assert dd.utt_ids == ["u0", "u1", "u2"]
    p = dd.audio("spk1.scp")["u1"]
    assert p.is_file() and p.name == "u1_clean.wav"
    assert load_audio_table(d / "wav.scp") == dd.audio("wav.scp")
    assert load_audio_table(d) == dd.audio("wav.scp")
    assert dd.table("text")["u2"] == "hello 2"


def test_write_sorted_c_locale(tmp_path):
    write_table(tmp_path / "t", {"b": 1, "B": 2, "a_1": 3, "a-1": 4})
    assert [l.split()[0] for l in (tmp_path / "t").read_text().splitlines()] == ["B", "a-1", "a_1", "b"]


@pytest.mark.parametrize("content,msg", [
    ("u1 a\nu1 b\n", r"t:2: duplicate utterance id 'u1'"),
    ("u1 a\n\nu2 b\n", r"t:2: empty line"),
    ("u1\n", r"t:1: expected 'utt_id value'"),
    ("", r"table is empty"),
])
def test_read_errors_name_the_line(tmp_path, content, msg):
    (tmp_path / "t").write_text(content)
    with pytest.raises(DataDirError, match=msg):
        read_table(tmp_path / "t")


def test_validator(tmp_path):
    d = make_dir(tmp_path)
    (d / "wav.scp").write_text((d / "wav.scp").read_text().replace("u0 ", "u9 ", 1))
    with pytest.raises(DataDirError, match="not sorted"):
        validate_data_dir(d)
    d = make_dir(tmp_path / "x")
    lines = (d / "spk1.scp").read_text().splitlines()
    (d / "spk1.scp").write_text("\n".join(lines[:2]) + "\n")
    with pytest.raises(DataDirError, match=r"list different utterances.*\['u2'\]"):
        validate_data_dir(d)
    d = make_dir(tmp_path / "y")
    (d / "utt2dur").write_text("u0 0.01\nu1 -3\nu2 0.01\n")
    with pytest.raises(DataDirError, match=r"utt2dur:2: duration of 'u1'"):
        validate_data_dir(d)
    d = make_dir(tmp_path / "z")
    (tmp_path / "z" / "wavs" / "u1_noisy.wav").unlink()
    with pytest.raises(DataDirError, match=r"wav.scp:2: audio file of 'u1' not found"):
        validate_data_dir(d)
    d = make_dir(tmp_path / "w")
    (tmp_path / "w" / "wavs" / "u0_clean.wav").write_bytes(b"junk")
    with pytest.raises(DataDirError, match=r"spk1.scp:1: .*not a readable audio file"):
        validate_data_dir(d, check_audio=True)
    (d / "wav.scp").write_text("u0 sox x.wav - |\nu1 a\nu2 b\n")
    with pytest.raises(DataDirError, match="pipe entries"):
        DataDir(d).audio("wav.scp")
    with pytest.raises(DataDirError, match="missing required file spk2.scp"):
        validate_data_dir(d, required=("spk2.scp",))
