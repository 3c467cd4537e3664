"""The human in RLHF: collect the policy's own samples (`collect`), rank them (`label`: a local page, or a judge),
into the ranked file the reward stage reads (`sheet`)."""
