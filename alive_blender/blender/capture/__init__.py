"""Scene -> capture: rendering the camera's frames, the content keys of scene state, movie footage."""
