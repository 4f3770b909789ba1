"""The relational behavior (``relational``): objects that move together, learned.

A trained model of how the captured objects move *together*, modelled on
DeepMind's learning_to_simulate (Graph Network-based Simulators,
Sanchez-Gonzalez et al. 2020; Interaction Networks, Battaglia et al. 2016),
one concern per module:

- ``state``: per-object state (position, continuous 6-D rotation, log scale,
  velocity) from world matrices and back; poses relative to related objects.
- ``relations``: the edges. Stated ones (parenting, constraints: what the
  capture records from Blender), contact from geometry (the objects' bounding
  boxes, posed), and every ordered pair for learned messages; the groups of
  related objects; the contact / interpenetration metric.
- ``graph_network``: encode-process-decode message passing over the object slots.
- ``memory``: a GRU per slot (loop-back memory between steps).
- ``mixture``: a mixture-density head over each slot's next velocity, so a
  rollout can branch.
- ``simulator``: the above as one module, with the shot's normalisation.
- ``noise``: random-walk input noise (GNS: what keeps long rollouts on track).
- ``train``: noise + multi-step unrolled loss; picks the object walk where the
  shot gives too little data, and says so.
- ``model``: the trained behavior (weights + the captured poses), saved and loaded.
- ``stepper``: ``core/stepping.Stepper`` with the seed's controls acting, and
  the rollout the stage calls.

Drawable poses: until a composer of new poses lands (3-D object clouds), the
frames are drawn by ``object-layers``, which can only show captured poses. So
each step picks source samples whose captured poses best match the predicted
state, *jointly* for related objects (a carried ball is drawn from a sample
whose carrier is in the same pose) and per object where they are
independent, and continues from what is drawn. The predicted poses are
written too (``R.poses.npy``).
"""

ARCH = "relational"
