"""groupsweep: a deep-learning course's whole pre-project as Ray Tune sweeps. `groupsweep --help` lists the
commands (groupsweep.cli); the layers below it are core <- trainables <- sweeps <- analysis."""
