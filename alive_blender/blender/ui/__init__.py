"""What the user sees in Blender: scene properties, preferences, the panel, operators, background jobs."""
