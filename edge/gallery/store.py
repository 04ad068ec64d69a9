"""The gallery file format, re-exported from ``jaywatch.gallery_file``.

The format moved to the shared ``jaywatch`` package because central reads and writes the
same files (snapshot uploads, erasures) and must not import the edge; edge code keeps
importing it from here.
"""

from __future__ import annotations

from jaywatch.gallery_file import FORMAT, FORMAT_VERSION, BackendBlock, Gallery, GalleryError

__all__ = ["FORMAT", "FORMAT_VERSION", "BackendBlock", "Gallery", "GalleryError"]
