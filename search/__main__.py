"""``python -m search`` runs the ``dfu-search`` command line."""

from search.cli import main

main()
