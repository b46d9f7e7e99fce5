"""meditate studio: a local web page to write, see, hear and fix a practice (the [studio] extra)."""
