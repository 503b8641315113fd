"""ctviewer.cli"""
