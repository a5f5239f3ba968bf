"""`python -m groupsweep ...`: the same command as the `groupsweep` console script."""
from groupsweep.cli import entry

if __name__ == "__main__":
    entry()
