import sys

from core.cli import main

if __name__ == "__main__":  # not when a spawned child process (transformers serve's model process) imports this
    sys.exit(main())
