"""Play Live in Blender: the scene data a live session updates each tick (``view``) and the
modal operator and Record Take (``operator``). The session itself is core/live (bpy-free)."""
