"""Metrics: the data model of a sample, made from a capture or a method log, within limits."""
