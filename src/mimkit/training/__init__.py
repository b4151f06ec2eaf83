"""The training layer: the LightningModule, its epoch means, schedules and gradient handling, the
training callbacks (β warm-up, early stopping, model selection, RNG state) and checkpoint files.
Imports the model and data layers below it, never evaluation or the application.
"""
