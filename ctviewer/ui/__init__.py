"""ctviewer.ui"""
