"""Parsing a practice: front matter, templates, durations, voice profiles, languages, series."""
