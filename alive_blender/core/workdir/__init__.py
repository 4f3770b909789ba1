"""The work directory on disk: layout, atomic writes and keys, the capture store and reader, model files, images."""
