"""Model files pai ships inside its own wheel, so nothing is downloaded at run time."""
