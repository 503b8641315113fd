"""ctviewer.model"""
