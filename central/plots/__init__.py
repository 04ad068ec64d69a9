"""Dashboard charts drawn on the server as SVG (svg.py); the numbers are in
central/workflow/dashboard.py."""
