"""Live mode: play the alive scene one tick at a time and steer it (bpy-free).

``steppers`` picks the behavior's ``core.stepping.Stepper`` (or adapts the
object walk to one), ``session`` advances it and composes each frame (image
and points), ``inputs`` parses scripted events, ``record`` writes what was
played as an ordinary rollout that ``decode`` and ``bake`` accept.
See docs/live.md.
"""
