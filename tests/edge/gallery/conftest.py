from tests.edge.faces.conftest import detector, embedders, gallery_with_obama  # noqa: F401
