"""telltale: privacy audits for audio and vision language models.

Importing this package is cheap: torch, transformers and other heavy libraries are
imported only inside the modules that need them.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
