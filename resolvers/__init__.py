"""Channel resolvers: each turns one channel's event into link evidence for the stitching engine.

A new channel is a new resolver registered in `resolvers.registry`, never a change to the engine.
"""
