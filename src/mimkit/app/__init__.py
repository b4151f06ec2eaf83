"""The application layer: the entry points and their Hydra plumbing (config composition, the config
schema, resolvers, loggers, resume, distributed and precision set-up) and the tools run on a trained
checkpoint (embed, latent). The top layer: it may import every other one, and none imports it.
"""
