"""Conditional networks: encoders q(z|x) and decoders p(x|z) that return distributions."""
