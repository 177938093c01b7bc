"""The panel: a thin Textual layer that shows engine events and sends engine commands.

Nothing here touches a process or a node file itself; everything goes through the engine's
events (swarmtui.engine.events) and commands.
"""
