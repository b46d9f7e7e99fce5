"""The test suite, a package: test modules import shared code as ``from tests.helpers import …``,
``from tests.signals import …`` (the working tree's root is on sys.path under pytest)."""
