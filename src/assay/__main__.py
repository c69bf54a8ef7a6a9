"""``python -m assay`` is the ``assay`` command."""

from assay.cli.app import main

main()
