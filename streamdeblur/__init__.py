"""streamdeblur: remove motion blur from faces in video streams."""

__version__ = "0.1.0"
