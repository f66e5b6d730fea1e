"""The audiokit command: help, dispatch and the error a user meets without a model."""

import subprocess
import sys

import numpy as np
import soundfile as sf

from audiokit.cli import SUBCOMMANDS, main


def test_no_command_prints_help(capsys):
    assert main([]) == 2
    out = capsys.readouterr().out
    assert all(name in out for name in SUBCOMMANDS)


def test_enhance_without_model_says_how_to_get_one(tmp_path, capsys):
    sf.write(tmp_path / "a.wav", np.zeros(1600, np.float32), 16000)
    assert main(["enhance", str(tmp_path / "a.wav"), "-o", str(tmp_path / "out"), "--model", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "not a model directory" in err and "egs/mini/enh/run.sh" in err


def test_console_entry_point_runs():
    r = subprocess.run([sys.executable, "-m", "audiokit", "score", "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "--ref" in r.stdout and "--metrics" in r.stdout
