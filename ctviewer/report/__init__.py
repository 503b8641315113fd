"""ctviewer.report"""
