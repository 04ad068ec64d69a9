"""Central's own face detector: crops enrolment photos to the face (central/faces/crop.py).

Central never imports edge; this is a small YuNet decoder of its own on onnxruntime,
numpy and Pillow (no OpenCV), reading the same shipped model file (models/manifest.json).
"""
