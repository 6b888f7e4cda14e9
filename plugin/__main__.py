"""`python -m plugin` is the same as the `uplift` console script."""

from plugin.cli import main

raise SystemExit(main())
