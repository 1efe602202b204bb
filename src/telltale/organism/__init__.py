"""The calibration organism: a small audio language model that telltale trains itself,
with planted and recorded behaviour, so that every audit can be checked against a model
whose truth is known (training set, refusal policy, memorisation strength)."""
