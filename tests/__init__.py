"""deepseek-magic's test suite (a package, so tests import shared code from ``tests.helpers``)."""
