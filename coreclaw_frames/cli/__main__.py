"""``python -m coreclaw_frames.cli``: the ``coreclaw-frames`` command."""

from coreclaw_frames.cli import main

raise SystemExit(main())
