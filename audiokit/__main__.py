import sys

from audiokit.cli import main

if __name__ == "__main__":  # worker processes may import this module; only the CLI runs it
    sys.exit(main())
