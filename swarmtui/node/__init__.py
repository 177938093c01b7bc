"""What an rl-swarm checkout IS: pure functions and dataclasses that read files and never write."""
