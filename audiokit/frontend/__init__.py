"""Signal front-ends: compressed STFT (MP-SENet), HiFi-GAN log-mel, Haar DWT."""

from audiokit.frontend.mel import PRESETS as MEL_PRESETS
from audiokit.frontend.mel import MelSpectrogram, mel_filterbank
from audiokit.frontend.stft import STFT, mag_pha_istft, mag_pha_stft
from audiokit.frontend.wavelet import haar_dwt, haar_idwt

__all__ = ["STFT", "mag_pha_stft", "mag_pha_istft", "MelSpectrogram", "mel_filterbank",
           "MEL_PRESETS", "haar_dwt", "haar_idwt"]
