"""Sound itself: the sample type, filters, loudness and true peak, the limiter, cue sounds, beds."""
