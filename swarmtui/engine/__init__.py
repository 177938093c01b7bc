"""What swarmtui DOES to a node: asyncio, no Textual. Its whole interface is events out and
commands in (events.py), so the panel, `supervise` and a future socket attach all speak it."""
