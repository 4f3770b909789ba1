"""Work directory -> scene data: point clouds, textures, trajectories, the bake operator."""
