"""Regions of footage that move on their own: the pseudo-objects of a capture without object ids.

``segment`` finds them from the pixels (temporal activity, then connected
cells whose temporal signals agree); ``compose`` builds a frame from one
source frame per region over a static background plate; ``seams`` blends the
region borders in the gradient domain and measures what seams are left;
``dynamism`` holds the least active regions still (static .. fully animated);
``layers`` is the generator (``region-layers``) the train stage builds from
them. Pure numpy/scipy: no bpy. See docs/regions.md.
"""
