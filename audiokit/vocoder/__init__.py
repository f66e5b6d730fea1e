"""Neural vocoders: mel spectrogram -> waveform (HiFi-GAN, PeriodWave, PeriodWave-Turbo)."""
