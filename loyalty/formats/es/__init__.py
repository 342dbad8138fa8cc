"""Spanish formats: see formats.py."""
