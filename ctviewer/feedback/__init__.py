"""ctviewer.feedback"""
