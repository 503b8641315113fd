"""ctviewer.io"""
