"""Helpers that build the sample scenes in sample_media/scenes (not part of jaywatch).

Run the generators from the repository root, e.g. ``python sample_media/make_scenes.py``;
they put sample_media/ on sys.path so these modules import as ``tools.<name>``.
"""
