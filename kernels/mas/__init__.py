"""Monotonic alignment search (Glow-TTS): naive oracle, CPU path, Triton kernel."""
