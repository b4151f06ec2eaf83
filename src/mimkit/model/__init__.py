"""The model layer: distributions, encoders and decoders (nets), priors, objectives and the
Autoencoder that holds them, with the maths of its latent tools. Plain PyTorch: no Lightning, no
data modules; imports only the leaves (errors, seeding, fields).
"""
