"""The gateway process: capture, detect, track, read the signal, apply the rule, faces, outbox."""
