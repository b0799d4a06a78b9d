"""Blob storage adapters (content-addressed files)."""
