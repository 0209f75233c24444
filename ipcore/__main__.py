from ipcore.cli import main

raise SystemExit(main())
