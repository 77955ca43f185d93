from mnist_lib.cli import main

raise SystemExit(main())
