"""Camera calibration: a local web page to draw the zone and signal ROI."""
