from drills.run import main

raise SystemExit(main())
