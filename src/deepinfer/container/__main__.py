"""``python3 -m deepinfer.container``: the entrypoint inside images built by ``deepinfer package build``."""

import sys

from deepinfer.container._entrypoint import main

sys.exit(main())
