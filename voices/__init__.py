"""The shipped voice profiles (``*.yaml``), installed as package data ``generator/voices/``."""
