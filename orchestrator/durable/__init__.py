"""The supervisor's durable state, on top of `orchestrator.storage`.

`Journal` keeps each workflow's spec (`spec_codec`: structure in JSON, user values apart),
the results of its tasks, and full or delta checkpoints of the scheduler's entries
(`orchestrator.core.checkpoint_state`). The supervisor decides when to save
(`orchestrator.runtime.durability`).
"""

from orchestrator.durable.journal import Journal, SavedState
from orchestrator.durable.spec_codec import SpecCodecError

__all__ = ["Journal", "SavedState", "SpecCodecError"]
