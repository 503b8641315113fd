"""ctviewer.anomaly"""
