"""`python -m coach` runs the same CLI as the `coach` console script."""

from coach.cli import main

if __name__ == "__main__":
    main()
