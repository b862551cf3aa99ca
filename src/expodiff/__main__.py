"""``python -m expodiff`` is the ``expodiff`` command."""

from expodiff.cli import main

raise SystemExit(main())
