"""Data the audits run on: synthetic speech from offline TTS engines, loaders for real
speech corpora, and (in :mod:`telltale.disclosure`) synthetic form images."""
