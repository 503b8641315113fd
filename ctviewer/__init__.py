"""ctviewer: a CT viewer with self-supervised autoencoder anomaly detection (decision support)."""

__version__ = "0.1.0"
