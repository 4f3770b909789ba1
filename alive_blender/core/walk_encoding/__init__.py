"""The embeddings of an object walk's states (object-layers generator +
object-walk behavior): what a walk's rollout.npy holds.

* a state that composes as a captured frame (every object drawn as in one
  sample; whole-frame walks on footage always do) takes that frame's
  embedding from embed/embeddings.npy: nothing to encode;
* every other state is composed and encoded, in batches, once per distinct
  composition (a state seen twice is encoded once);
* when nothing downstream needs them (no steering), composed states are not
  encoded at all: their rows are NaN and R.json says so (``record``), so a
  reader encodes them on demand (``fill_missing``) or says why it cannot.
"""

from .encode import fill_missing, walk_embeddings  # noqa: F401
from .record import check_record, missing_rows, record  # noqa: F401
