"""Pixel Confidence Module (LPC-Net PCM): fixed-kernel neighbourhood confidence, clamped rescale."""
