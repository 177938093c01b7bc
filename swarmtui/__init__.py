"""swarmtui: a terminal control panel that runs and keeps alive a Gensyn RL-Swarm node."""

__version__ = "0.1.0"
