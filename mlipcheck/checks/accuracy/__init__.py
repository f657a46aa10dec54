"""Accuracy: errors against reference data per material class, softening, uncertainty."""
