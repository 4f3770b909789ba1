"""The scene in 3-D, without Blender: moving objects as coloured point clouds
fused from every captured sample (``clouds``), the static scene as one
world-space cloud (``background``), z-buffered splatting of clouds at any
world matrix into any camera (``compose``), which camera an invented frame
is seen through (``camera_path``), and which samples show a deforming object
in the same shape (``deformation``). See docs/world.md."""
