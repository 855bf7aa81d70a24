"""Repository tools (documentation generators); not shipped in any image."""
