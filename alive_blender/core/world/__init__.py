"""The scene in 3-D, without Blender: moving objects as coloured point clouds
fused from every captured sample (``clouds``), the static scene as one
world-space cloud (``background``), z-buffered splatting of clouds at any
world matrix into any camera (``compose``), and which camera an invented frame
is seen through (``camera_path``). See docs/world.md."""
