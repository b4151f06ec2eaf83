"""The evaluation layer: the paper's metrics, its pictures (Fig. 2, t-SNE), the Lightning callbacks
that compute and draw them at test time, and the report over a sweep's runs. Imports the training,
model and data layers below it, never the application layer.
"""
