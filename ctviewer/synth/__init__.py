"""ctviewer.synth"""
