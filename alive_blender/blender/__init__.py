"""The Blender side of alive_blender: turns scene state into plain arrays and
files for ``core`` and core results back into scene data. Nothing here
trains a model; long work goes to a worker process (see ``jobs``)."""
